"""Grants and the partner roles they may be made to."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PartnerRole(models.Model):
    """A named group of one partner's principals (e.g. `eval-jobs`) that grants can be given to."""

    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="roles")
    slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=150, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="partner_roles", blank=True)

    class Meta:
        ordering = ["partner", "slug"]
        constraints = [models.UniqueConstraint(fields=["partner", "slug"], name="partner_role_slug_unique")]

    def __str__(self) -> str:
        return f"{self.partner.slug}/{self.slug}"


class Grant(models.Model):
    """Least-privilege access for one principal (or partner role) to one asset version, under a charter."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"
        REFUSED = "refused", "Refused"

    # A grant that still stands: it compiles to policy lines, can be suspended, resumed, expired or reviewed.
    LIVE = (Status.ACTIVE, Status.SUSPENDED)

    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="grants")
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    partner_role = models.ForeignKey(
        PartnerRole, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    charter = models.ForeignKey("charters.Charter", on_delete=models.PROTECT, related_name="grants")
    charter_version = models.ForeignKey(
        "charters.CharterVersion",
        on_delete=models.PROTECT,
        related_name="grants",
        help_text="The version it stands on.",
    )
    asset_version = models.ForeignKey("charters.AssetVersion", on_delete=models.PROTECT, related_name="grants")
    actions = models.JSONField(help_text='e.g. ["infer", "evaluate"]')
    purposes = models.JSONField(help_text="Purpose names from the charter.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    daily_quota = models.PositiveIntegerField()
    monthly_quota = models.PositiveIntegerField()
    rate_per_minute = models.PositiveIntegerField()
    requires_session = models.BooleanField(default=False)
    requires_attestation = models.BooleanField(default=False)
    attestation_policy = models.JSONField(
        null=True,
        blank=True,
        help_text="A claims policy the evidence must meet as well as the charter's: it can only tighten it.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    status_reason = models.TextField(blank=True)
    held_at = models.DateTimeField(null=True, blank=True, help_text="Set while an incident holds this grant.")
    justification = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(principal__isnull=False) & models.Q(partner_role__isnull=True))
                | (models.Q(principal__isnull=True) & models.Q(partner_role__isnull=False)),
                name="grant_for_a_principal_or_a_role",
            ),
        ]
        indexes = [
            models.Index(fields=["asset_version", "status"], name="grant_asset_status_idx"),
            # A partner's grants, soonest to expire first: the portal's list and what comes up.
            models.Index(fields=["partner", "valid_until"], name="grant_partner_until_idx"),
        ]

    def __str__(self) -> str:
        return f"grant #{self.pk} {self.grantee} on {self.asset_version_id}"

    @property
    def grantee(self) -> str:
        return self.principal.username if self.principal is not None else f"role {self.partner_role}"
