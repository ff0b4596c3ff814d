"""The decision point's state: sessions and usage counters."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DecisionSession(models.Model):
    """A time-limited session for a grant that requires one. Only the token's digest is stored.

    An attested session was opened on verified attestation evidence: it keeps the evidence's digest, the verifier
    that vouched, the measurement the evidence carried and the allow-list entry it matched (the session ends when
    that entry is removed), and the enclave's public key the evidence carried, if any.

    A session ends early when its grant is suspended, held or revoked, or its measurement leaves the allow-list:
    ``ended_at`` is set, and the end is announced on the policy feed so that every process stops honouring it."""

    grant = models.ForeignKey("governance.Grant", on_delete=models.CASCADE, related_name="sessions")
    principal = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    action = models.CharField(max_length=32)
    purpose = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    verifier = models.CharField(max_length=64, blank=True, help_text="The verifier that vouched; blank: not attested.")
    evidence_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 (hex) of the evidence given.")
    measurement = models.JSONField(null=True, blank=True, help_text="The evidence's platform and measured values.")
    measurement_entry = models.ForeignKey(
        "governance.Measurement", on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    enclave_key = models.JSONField(null=True, blank=True, help_text="The enclave's public key (a JWK), if given.")
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it ended before its expiry.")
    end_reason = models.CharField(
        max_length=32, blank=True, help_text="Why it ended early: the deny code a decision naming it answers."
    )

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
