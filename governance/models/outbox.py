"""Mail waiting to be sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """Mail to send, written in the transaction that decided to send it and sent by a worker afterwards: at least
    once, with its key as the Message-ID so that a resend after a crash is recognisably the same message."""

    key = models.CharField(max_length=200, unique=True, help_text="What makes two messages the same one.")
    to = models.JSONField(help_text="Addresses.")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A sender is on it until then.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({'sent' if self.sent_at else 'waiting'})"
