"""Attestation's state in the database: nonces when there is no Redis (the embedded mode), and the measurement
allow-lists officers keep."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class MeasurementList(models.Model):
    """A named allow-list of enclave measurements, kept by officers apart from charters: a charter names the list,
    so adding or removing a measurement takes effect at once, without an amendment. Every change makes a new
    version of the list (``version``), and the entries remember the versions they were added and removed in, so
    what a list held at any version can be read back; the trail records each change."""

    name = models.SlugField(max_length=64, unique=True, help_text="What charters name it by, e.g. atlas-serving.")
    title = models.CharField(max_length=150, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="1 when created; one more with every change.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"measurement list {self.name} v{self.version}"


class Measurement(models.Model):
    """One measured environment on an allow-list: the values its evidence must carry, by platform.

    ``values`` holds lower-case hex by name: ``launch_measurement`` (AMD SEV-SNP); ``mrtd`` and optionally
    ``rtmr0``-``rtmr3`` (Intel TDX); ``pcr0``, ``pcr1`` and ``pcr2`` (AWS Nitro). Evidence matches an entry when it
    carries every value the entry names. An entry is never deleted: removing it stamps ``removed_at``, so sessions
    opened on it end and the history stays readable."""

    class Platform(models.TextChoices):
        SNP = "snp", "AMD SEV-SNP"
        TDX = "tdx", "Intel TDX"
        NITRO = "nitro", "AWS Nitro Enclaves"

    allow_list = models.ForeignKey(MeasurementList, on_delete=models.PROTECT, related_name="entries")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    values = models.JSONField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the platform and values: one entry each.")
    note = models.CharField(max_length=200, blank=True, help_text="What it is, e.g. the image and build it measures.")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    added_in = models.PositiveIntegerField(help_text="The list's version that added it.")
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_in = models.PositiveIntegerField(null=True, blank=True, help_text="The list's version that removed it.")

    class Meta:
        ordering = ["allow_list", "added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["allow_list", "digest"],
                condition=models.Q(removed_at__isnull=True),
                name="measurement_listed_once",
            )
        ]
        indexes = [models.Index(fields=["platform", "digest"], name="measurement_platform_idx")]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} measurement #{self.pk} on {self.allow_list_id}"
