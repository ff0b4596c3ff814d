"""Exits, their items and the partner's attestation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from charters.vocabulary import Disposition


class Exit(models.Model):
    """The end of one charter's collaboration, run by its exit plan: revoke, dispose of each asset as planned,
    collect the partner's attestation and the certificates of destruction, then close with a report."""

    class Status(models.TextChoices):
        REVOKING = "revoking", "Revoking access"
        WINDING_DOWN = "winding_down", "Disposing of assets"
        CLOSED = "closed", "Closed"

    charter = models.OneToOneField("charters.Charter", on_delete=models.PROTECT, related_name="exit")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="exits")
    plan = models.JSONField(help_text="The exit plan of the charter version it ran under.")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REVOKING)
    started_by = models.CharField(max_length=150)
    started_at = models.DateTimeField(default=timezone.now)
    ends_partner_access = models.BooleanField(
        help_text="The partner has no other live charter: every token goes, the admins' narrowed until closing."
    )
    revocations_done_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True, help_text="The exit report, written when the exit closes.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"exit of {self.charter_id}"


class ExitItem(models.Model):
    """One line of the exit plan resolved to what it covers: an asset version the partner held, or the outputs
    produced for it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Destruction scheduled"
        DESTROYED = "destroyed", "Destroyed"
        NOTHING_HELD = "nothing_held", "Nothing stored to destroy"
        RETAINED = "retained", "Retained"
        AWAITING_MIGRATION = "awaiting_migration", "Awaiting migration"
        MIGRATED = "migrated", "Migrated"
        KEPT = "kept", "Destruction cancelled"

    FINAL = (Status.DESTROYED, Status.NOTHING_HELD, Status.RETAINED, Status.MIGRATED, Status.KEPT)

    exit = models.ForeignKey(Exit, on_delete=models.CASCADE, related_name="items")
    asset_version = models.ForeignKey(
        "charters.AssetVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=300, help_text="What the line covers, as people say it.")
    outputs = models.BooleanField(default=False, help_text="The line for the outputs produced for the partner.")
    disposition = models.CharField(max_length=16, choices=Disposition.choices)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(blank=True)
    done_by = models.CharField(max_length=150, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    keys = models.ManyToManyField(
        "governance.DataKey",
        through="governance.ExitItemKey",
        related_name="exit_items",
        help_text="The data keys whose destruction the line scheduled.",
    )

    class Meta:
        ordering = ["exit", "id"]

    def __str__(self) -> str:
        return f"{self.disposition} {self.subject}"


class ExitItemKey(models.Model):
    """A data key whose destruction an exit line scheduled. The exit owns the link, so that the vault knows
    nothing of exits; the line reads its keys' state to know when it is settled, and the exit's certificates are
    its keys' certificates."""

    item = models.ForeignKey(ExitItem, on_delete=models.PROTECT, related_name="key_links")
    data_key = models.ForeignKey("governance.DataKey", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["item", "data_key"]
        constraints = [
            # One line disposes of a key at a time: a later exit that schedules it again takes it over.
            models.UniqueConstraint(fields=["data_key"], name="one_exit_item_per_data_key"),
        ]

    def __str__(self) -> str:
        return f"data key #{self.data_key_id} of exit item #{self.item_id}"


class ExitAttestation(models.Model):
    """The partner admin's statement that the partner destroyed its copies of what the plan destroys."""

    exit = models.OneToOneField(Exit, on_delete=models.PROTECT, related_name="attestation")
    partner_admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    method = models.CharField(max_length=200)
    destroyed = models.JSONField(help_text="The fingerprints of the asset versions attested as destroyed.")
    attested_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"attestation for exit #{self.exit_id}"
