from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import Organisation

FINGERPRINT_PATTERN = r"^[0-9a-f]{64}$"
fingerprint_validator = RegexValidator(
    FINGERPRINT_PATTERN,
    "A fingerprint is the SHA-256 of the artefact as 64 lowercase hexadecimal characters (sha256sum prints it).",
    code="invalid_fingerprint",
)


class Asset(models.Model):
    """Something shared or protected: a model, a dataset, or a derivative of one."""

    class Kind(models.TextChoices):
        MODEL = "model", "Model"
        DATASET = "dataset", "Dataset"
        DERIVATIVE = "derivative", "Derivative"

    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="assets", help_text="The organisation that owns it."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                name="asset_name_unique_per_owner",
                violation_error_message="This owner already has an asset with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class AssetVersion(models.Model):
    """One immutable version of an asset, named everywhere (decisions included) by its SHA-256 fingerprint."""

    class Classification(models.TextChoices):
        SHAREABLE = "shareable", "Shareable"
        RESTRICTED = "restricted", "Restricted"
        PROPRIETARY = "proprietary", "Proprietary"

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="versions")
    label = models.CharField(max_length=64, help_text="The version as people say it, e.g. 1.2.0 or 2026-11.")
    fingerprint = models.CharField(
        max_length=64,
        unique=True,
        validators=[fingerprint_validator],
        error_messages={"unique": "Another asset version already has this fingerprint; each names exactly one."},
    )
    size_bytes = models.PositiveBigIntegerField()
    classification = models.CharField(max_length=16, choices=Classification.choices)
    storage_uri = models.CharField(max_length=500, help_text="Where the artefact lives, e.g. s3://models/atlas-7b/1.0.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["asset__name", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "label"],
                name="asset_version_label_unique",
                violation_error_message="This asset already has a version with this label.",
            ),
            models.CheckConstraint(
                condition=models.Q(fingerprint__regex=FINGERPRINT_PATTERN), name="asset_version_fingerprint_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset.name} {self.label}"
