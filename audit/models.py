from __future__ import annotations

from typing import Any, NoReturn

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a recorded event through the application."""


class EventQuerySet(models.QuerySet["Event"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


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

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["partner", "id"], name="audit_event_partner_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
            models.Index(fields=["action", "id"], name="audit_event_action_idx"),
            models.Index(fields=["occurred_at"], name="audit_event_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_label or self.actor_type} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: a recorded event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")
