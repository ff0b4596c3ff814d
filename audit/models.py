from __future__ import annotations

import secrets
import uuid
from typing import Any, NoReturn

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a recorded event through the application."""


class EventQuerySet(models.QuerySet["Event"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


def new_salt() -> str:
    return secrets.token_hex(16)


# The decision point's events, most of the trail. Its readers (governance/decisions/records.py) look a decision up
# by its id, a grant's use by time, and a principal's requests for an asset by time, always among these actions:
# the indexes below hold only them, and a query names them exactly so, or PostgreSQL cannot use the indexes.
DECISION_ACTIONS = ("decision.allow", "decision.deny")
_DECISIONS = models.Q(action__in=DECISION_ACTIONS)


class Event(models.Model):
    """One entry of the trail: who did what to which record, when, from where, and how it ended.

    Actors and partners are plain identifiers (a user's id and name at the time, a partner's slug), so the
    trail stays readable after the rows it names are gone and this app depends on no other.
    ``id`` is the insertion order; the hash chain added later gives each sealed event its place in the chain.
    """

    class ActorType(models.TextChoices):
        USER = "user", "Person"
        PRINCIPAL = "principal", "Partner principal"
        SYSTEM = "system", "System"
        ANONYMOUS = "anonymous", "Anonymous"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, help_text="A user's id, or the name of a system job.")
    actor_label = models.CharField(max_length=150, blank=True, help_text="The actor's name when the event happened.")
    partner = models.CharField(max_length=64, blank=True, help_text="Slug of the partner whose data this concerns.")
    action = models.CharField(max_length=64, help_text="What happened, as noun.verb: asset.registered.")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Random, and covered by the digest: an event shown as its digest alone (another partner's, in a partner's
    # export) cannot be confirmed by guessing its content.
    salt = models.CharField(max_length=32, default=new_salt, editable=False)
    # The chain fields. On PostgreSQL a trigger refuses events inserted sealed and allows one update of an event:
    # the sealer's write of these three fields, null to value, nothing else changed.
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    digest = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001 (null: unsealed)
    chain_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["id"]
        permissions = [("view_own_partner_events", "Can read and export its own partner's events")]
        indexes = [
            models.Index(fields=["partner", "id"], name="audit_event_partner_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
            models.Index(fields=["action", "id"], name="audit_event_action_idx"),
            models.Index(fields=["occurred_at"], name="audit_event_time_idx"),
            models.Index(fields=["actor_label", "id"], name="audit_event_actor_idx"),
            models.Index(fields=["id"], condition=models.Q(chain_seq__isnull=True), name="audit_event_unsealed_idx"),
            models.Index(KeyTransform("decision_id", "details"), condition=_DECISIONS, name="audit_decision_id_idx"),
            models.Index(
                KeyTransform("grant", "details"), "occurred_at", condition=_DECISIONS, name="audit_decision_grant_idx"
            ),
            models.Index(
                "actor_id",
                KeyTransform("asset", "details"),
                "occurred_at",
                condition=_DECISIONS,
                name="audit_decision_asker_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_label or self.actor_type} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: a recorded event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


class AppendOnlyModel(models.Model):
    """Rows written once and never changed or deleted through the application."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name} rows are append-only: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self._meta.verbose_name} rows are append-only: they cannot be deleted.")


class SigningKey(AppendOnlyModel):
    """A public key that has signed checkpoints or manifests. Kept after a rotation, so older checkpoints still
    verify; published at /api/v1/audit/public-key."""

    key_id = models.CharField(max_length=32, unique=True, help_text="First 16 bytes of the key's SHA-256, in hex.")
    public_key = models.CharField(max_length=64, help_text="The raw Ed25519 public key, url-safe base64.")
    first_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_signing_key"
        ordering = ["first_used_at", "id"]

    def __str__(self) -> str:
        return self.key_id


class Checkpoint(AppendOnlyModel):
    """A signed statement that the chain ended at ``chain_seq`` with ``chain_hash`` at ``created_at``: written by
    every sealing pass, events or not, so that "nothing happened" is provable too."""

    number = models.BigIntegerField(unique=True, help_text="1, 2, 3…: a missing checkpoint leaves a gap.")
    previous = models.CharField(max_length=64, help_text="SHA-256 of the previous checkpoint's signature.")
    chain_seq = models.BigIntegerField(help_text="The last sealed event's chain_seq (0: none yet).")
    chain_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=100, help_text="Ed25519 over the canonical JSON, url-safe base64.")

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["id"]
        indexes = [models.Index(fields=["chain_seq"], name="audit_checkpoint_seq_idx")]

    def __str__(self) -> str:
        return f"checkpoint at {self.chain_seq}"

    def statement(self) -> dict[str, Any]:
        """What the signature covers."""
        return {
            "number": self.number,
            "previous": self.previous,
            "chain_seq": self.chain_seq,
            "chain_hash": self.chain_hash,
            "created_at": self.created_at.isoformat(),
            "key_id": self.key_id,
        }


class ExportFile(AppendOnlyModel):
    """An export asked for through the API or the web UI: where its file and manifest are, and whose it is."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.CharField(max_length=64, blank=True, help_text="The partner whose slice it is; empty: all.")
    requested_by = models.CharField(max_length=64, help_text="The id of the user who asked for it.")
    requested_label = models.CharField(max_length=150)
    format = models.CharField(max_length=8)
    path = models.CharField(max_length=500, help_text="The file, relative to the export folder.")
    manifest = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_export_file"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.id} ({self.format})"


class ExportJob(models.Model):
    """An export asked for through the API or the web UI, carried out by a worker (a trail export can take
    minutes); once done, its file is the ExportFile with the same id."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.CharField(max_length=64, blank=True, help_text="The partner whose slice it is; empty: all.")
    requested_by = models.CharField(max_length=64, help_text="The id of the user who asked for it.")
    requested_label = models.CharField(max_length=150)
    actor_type = models.CharField(max_length=16, choices=Event.ActorType.choices)
    format = models.CharField(max_length=8)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "audit_export_job"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export job {self.id} ({self.status})"


class EvidenceBundle(AppendOnlyModel):
    """A legal hold: records and the events about them, frozen as one JSON document with its own hash, and
    recorded in the chain."""

    title = models.CharField(max_length=200)
    reason = models.TextField()
    placed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    content = models.JSONField(encoder=DjangoJSONEncoder)
    content_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_evidence_bundle"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evidence bundle #{self.pk}: {self.title}"


class QueuedTask(models.Model):
    """A Celery task that a transaction queued, kept until the broker has taken it (audit/dispatch.py): a job
    committed while the broker was down runs once the broker is back, instead of staying "queued" for ever."""

    task = models.CharField(max_length=200, help_text="The task's registered name.")
    args = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Sends that the broker refused.")
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "audit_queued_task"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.task}{self.args} (queued {self.created_at:%Y-%m-%d %H:%M:%S})"
