"""Incidents and their playbook steps."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from charters.vocabulary import AutomaticStep


class Incident(models.Model):
    """A declared breach or suspected misuse, run by its charter's playbook: each step a checklist item with a
    deadline counted from the declaration. A drill runs the same checklist and clocks without touching a grant
    or telling the partner; its timings are kept as evidence of readiness."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="incidents")
    charter = models.ForeignKey("charters.Charter", on_delete=models.PROTECT, related_name="incidents")
    playbook = models.ForeignKey("charters.IncidentPlaybook", on_delete=models.PROTECT, related_name="incidents")
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=16)
    summary = models.TextField()
    drill = models.BooleanField(default=False, help_text="A tabletop exercise: nothing real is suspended or sent.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    declared_by = models.CharField(max_length=150, help_text="Who declared it, as the trail names them.")
    declared_at = models.DateTimeField(default=timezone.now)
    remediation_due_at = models.DateTimeField(help_text="The charter's remediation clock, from the declaration.")
    notify = models.JSONField(default=list, help_text="The addresses the charter and the playbook name.")
    evidence = models.ForeignKey(
        "audit.EvidenceBundle", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-declared_at", "-id"]
        indexes = [models.Index(fields=["status", "charter"], name="incident_status_charter_idx")]

    def __str__(self) -> str:
        return f"{'drill' if self.drill else 'incident'} #{self.pk}: {self.title}"


class IncidentStep(models.Model):
    """One playbook step of an incident, due ``deadline_hours`` after the declaration."""

    class Status(models.TextChoices):
        PENDING = "pending", "To do"
        DONE = "done", "Done"
        NOT_DONE = "not_done", "Not done when the incident closed"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    owner_role = models.CharField(max_length=32)
    deadline_hours = models.PositiveIntegerField()
    automatic = models.CharField(
        max_length=32, blank=True, choices=AutomaticStep.choices, help_text="Blank: a step people do."
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    result = models.JSONField(default=dict, help_text="What an automatic step did (or, in a drill, would do).")
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "position"]
        constraints = [models.UniqueConstraint(fields=["incident", "position"], name="one_step_per_position")]
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(status="pending"), name="incident_step_pending_idx")
        ]

    def __str__(self) -> str:
        return f"step {self.position} of incident #{self.incident_id}: {self.title}"

    @property
    def owner_label(self) -> str:
        return self.owner_role.replace("_", " ").capitalize()
