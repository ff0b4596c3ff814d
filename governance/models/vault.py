"""The vault: data keys, artefacts and certificates of destruction. Nothing here points at what asked for a
destruction: an exit keeps its own links to the keys it disposes of (governance.models.exits.ExitItemKey)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DataKey(models.Model):
    """The AES-256 key of one asset version's files or of one delivery to a partner, stored only wrapped by the
    key-encryption key. Destroying it (erasing the wrapped key) is the cryptographic erase of what it encrypts."""

    class Scope(models.TextChoices):
        ASSET_VERSION = "asset_version", "Asset version"
        DELIVERY = "delivery", "Delivery to a partner"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING_DESTRUCTION = "pending_destruction", "Destruction scheduled"
        DESTROYED = "destroyed", "Destroyed"

    key_id = models.CharField(max_length=32, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    asset_version = models.ForeignKey(
        "charters.AssetVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="data_keys"
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="data_keys"
    )
    wrapped = models.BinaryField(null=True, help_text="Nonce and AES-GCM ciphertext of the key under the KEK.")
    kek_id = models.CharField(max_length=16, help_text="Which key-encryption key wrapped it.")
    key_check = models.CharField(max_length=64, help_text="HMAC-SHA256 of a fixed label under the key.")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150)
    destroy_after = models.DateTimeField(null=True, blank=True)
    destruction_requested_by = models.CharField(max_length=150, blank=True)
    destruction_reason = models.TextField(blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset_version"],
                condition=models.Q(scope="asset_version"),
                name="one_key_per_asset_version",
            ),
            models.CheckConstraint(
                condition=models.Q(status="destroyed", wrapped__isnull=True)
                | (~models.Q(status="destroyed") & models.Q(wrapped__isnull=False)),
                name="data_key_wrapped_until_destroyed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["destroy_after"],
                condition=models.Q(status="pending_destruction"),
                name="data_key_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"data key {self.key_id}"


class Artefact(models.Model):
    """A file kept encrypted in the artefact store: one of an asset version's files, or something produced for
    a partner (a delivery, an export, an evaluation output)."""

    class Kind(models.TextChoices):
        ASSET_FILE = "asset_file", "Asset file"
        DELIVERY = "delivery", "Delivery"
        EXPORT = "export", "Export"
        EVALUATION_OUTPUT = "evaluation_output", "Evaluation output"

    uid = models.CharField(max_length=32, unique=True, help_text="Names the ciphertext and is bound into it.")
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="artefacts")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    asset_version = models.ForeignKey(
        "charters.AssetVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="artefacts"
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="artefacts"
    )
    name = models.CharField(max_length=255, help_text="The file's name as it was given.")
    storage_name = models.CharField(max_length=500)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the plaintext.")
    ciphertext_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class DestructionCertificate(models.Model):
    """The record of one cryptographic erase, in the spirit of NIST SP 800-88's sample certificate: what, how,
    which key, when, how it was verified and by whom; signed with the trail's key and recorded in the trail."""

    number = models.CharField(max_length=32, unique=True)
    data_key = models.OneToOneField(DataKey, on_delete=models.PROTECT, related_name="certificate")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    document = models.JSONField()
    signature = models.CharField(max_length=200, help_text="Ed25519 over the document's canonical JSON, base64.")
    signing_key_id = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return f"certificate {self.number}"
