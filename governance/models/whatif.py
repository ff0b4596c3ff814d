"""What-if runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class WhatIfRun(models.Model):
    """One what-if replay asked for by an officer: its candidate, its window, its progress and its report.

    Run by a worker (a replay may read a million decisions); the page shows its progress until the report is in.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    charter_version = models.ForeignKey(
        "charters.CharterVersion", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    grant = models.ForeignKey("governance.Grant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    days = models.PositiveSmallIntegerField(help_text="How many days of recorded decisions are replayed.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    scanned = models.PositiveBigIntegerField(default=0, help_text="Trail events read so far.")
    total = models.PositiveBigIntegerField(default=0, help_text="Trail events in the window.")
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(charter_version__isnull=False) & models.Q(grant__isnull=True))
                | (models.Q(charter_version__isnull=True) & models.Q(grant__isnull=False)),
                name="whatif_one_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"what-if #{self.pk} ({self.status})"
