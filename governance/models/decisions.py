"""The decision point's state: sessions and usage counters."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DecisionSession(models.Model):
    """A time-limited session for a grant that requires one. Only the token's digest is stored."""

    grant = models.ForeignKey("governance.Grant", on_delete=models.CASCADE, related_name="sessions")
    principal = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    action = models.CharField(max_length=32)
    purpose = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="decision_session_expiry_idx")]

    def __str__(self) -> str:
        return f"session for grant #{self.grant_id} until {self.expires_at:%H:%M:%S}"


class UsageCounter(models.Model):
    """Quota and rate counters when there is no Redis (the embedded mode). With Redis they live there."""

    key = models.CharField(max_length=128, unique=True)
    count = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
