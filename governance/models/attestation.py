"""Attestation's state in the database: nonces, when there is no Redis (the embedded mode)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AttestationNonce(models.Model):
    """A nonce a principal asked for, to be carried once in its attestation evidence. Only its digest is stored;
    with Redis, nonces live there instead (governance/attestation/nonces.py)."""

    principal = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    spent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="attestation_nonce_expiry_idx")]

    def __str__(self) -> str:
        return f"nonce of user #{self.principal_id} until {self.expires_at:%H:%M:%S}"
