"""Anomaly findings."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from charters.vocabulary import MisuseRule, Severity


class AnomalyFinding(models.Model):
    """A grant's use that broke one of its charter's misuse rules, once per rule and window: the record an
    incident can later point to."""

    grant = models.ForeignKey("governance.Grant", on_delete=models.PROTECT, related_name="findings")
    rule = models.CharField(max_length=32, choices=MisuseRule.choices)
    name = models.CharField(max_length=64, help_text="The misuse definition's name in the charter.")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    incident = models.ForeignKey(
        "Incident", on_delete=models.PROTECT, null=True, blank=True, related_name="findings", help_text="Opened by it."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "name", "window_start"], name="one_finding_per_rule_and_window")
        ]

    def __str__(self) -> str:
        return f"{self.name} on grant #{self.grant_id} at {self.window_end:%Y-%m-%d %H:%M}"
