from __future__ import annotations

import hashlib
from datetime import datetime
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django_otp.models import Device, ThrottlingMixin

from accounts.roles import HOST_ROLES, Role


class Organisation(models.Model):
    """The host organisation (exactly one) or a partner. A partner is the tenant boundary."""

    class Kind(models.TextChoices):
        HOST = "host", "Host organisation"
        PARTNER = "partner", "Partner"

    name = models.CharField(max_length=150, unique=True)
    slug = models.SlugField(max_length=64, unique=True, help_text="Names the partner in the trail and the API.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    access_ended_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set by the exit of a partner's last live charter: its people reach only the exit API, and no "
        "token is issued or rotated for them, until a new charter of theirs is approved.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(kind="host"), name="one_host_organisation"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_host(self) -> bool:
        return self.kind == self.Kind.HOST


class PartnerManager(models.Manager["Partner"]):
    def get_queryset(self) -> models.QuerySet[Partner]:
        return super().get_queryset().filter(kind=Organisation.Kind.PARTNER)


class Partner(Organisation):
    """An external organisation: the same table as Organisation, only the partners."""

    objects: ClassVar[PartnerManager] = PartnerManager()

    class Meta:
        proxy = True
        ordering = ["name"]


class User(AbstractUser):  # type: ignore[django-manager-missing]  # django-otp devices are untyped
    """A person or, for partner principals, a service identity (a gateway or job) that only uses API tokens.

    Roles are the Django groups named after ``Role``; a user belongs to one organisation, and partner roles
    only to partner organisations.
    """

    # ASCII only: names appear in URLs, tokens' owners, logs and the trail, and the OpenAPI document's pattern
    # (JSON Schema's \w is ASCII) says so; Django's default would take any Unicode letter.
    username_validator = ASCIIUsernameValidator()  # type: ignore[assignment]  # the stubs name the Unicode one
    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        help_text="150 characters or fewer: ASCII letters, digits and @ . + - _ only.",
        validators=[username_validator],
        error_messages={"unique": "A user with that username already exists."},
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="members")
    is_service = models.BooleanField(
        default=False, help_text="A partner principal: authenticates with API tokens only, never logs in."
    )

    REQUIRED_FIELDS = ["email", "organisation"]

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(self.groups.values_list("name", flat=True))

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_host_member(self) -> bool:
        return self.organisation.is_host and self.has_role(*HOST_ROLES)

    @property
    def is_officer(self) -> bool:
        return self.organisation.is_host and self.has_role(Role.OFFICER)

    @property
    def is_partner_admin(self) -> bool:
        return not self.organisation.is_host and self.has_role(Role.PARTNER_ADMIN)

    @property
    def partner_slug(self) -> str:
        """The partner this user belongs to, as the trail names it; "" for the host's people."""
        return "" if self.organisation.is_host else self.organisation.slug


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 digest is stored: the token itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'eval gateway (prod)'.")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to recognise it in lists.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    scopes = models.CharField(
        max_length=100,
        help_text="What the token may be used for, space-separated (accounts/scopes.py); an exit narrows a partner "
        "admin's tokens to 'exit'.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class PersonSession(AbstractBaseSession):
    """A web login: Django's database session with the person, address and times beside it, so that people can
    see and end their own sessions and a deactivation ends all of a person's at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="web_sessions")
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta(AbstractBaseSession.Meta):
        verbose_name = "web session"

    @classmethod
    def get_session_store_class(cls) -> type[SessionBase]:
        from accounts.sessions import SessionStore

        return SessionStore


class RecoveryCodeDevice(ThrottlingMixin, Device):
    """A person's one-time recovery codes, as one django-otp device. Only each code's SHA-256 digest is kept
    (django-otp's static device stores codes as they are); a code works once."""

    created_at = models.DateTimeField(default=timezone.now)

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token: str) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        digest = recovery_code_digest(token)
        used = self.codes.filter(digest=digest, used_at__isnull=True).update(used_at=timezone.now())
        if used:
            self.throttle_reset()
        else:
            self.throttle_increment()
        return bool(used)

    @property
    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "digest"], name="one_recovery_code_per_digest")]

    def __str__(self) -> str:
        return f"recovery code of {self.device.user_id} ({'used' if self.used_at else 'unused'})"


def recovery_code_digest(code: str) -> str:
    """The digest of a recovery code as people type it: case, spaces and dashes do not matter."""
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


class Proposal(models.Model):
    """An irreversible act one officer proposes and a second confirms (four eyes), as a charter version is written by
    one officer and approved by another. What will happen is worked out and shown when it is proposed; confirming
    carries out that act, or nothing when the world changed since."""

    class Kind(models.TextChoices):
        CHARTER_END = "charter_end", "End a charter and run its exit"
        POLICY_ROLLBACK = "policy_rollback", "Roll the policy back to an earlier bundle"
        KEY_DESTROY_NOW = "key_destroy_now", "Destroy a data key now, before its grace period ends"
        FACTORS_RESET = "factors_reset", "Reset another person's second factors"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second officer"
        CARRIED_OUT = "carried_out", "Confirmed and carried out"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired unconfirmed"
        FAILED = "failed", "Confirmed, but could no longer be carried out"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    # What it acts on, as its own pages name it: a charter's slug, a bundle's hash, a key id, a username.
    target = models.CharField(max_length=200)
    target_label = models.CharField(max_length=300)
    partner = models.SlugField(max_length=64, blank=True, help_text="The partner concerned; blank for the host's own.")
    reason = models.TextField()
    plan = models.JSONField(default=list, help_text="What confirming will do, line by line, as shown when proposed.")
    # A digest of the plan where the act can check it (a rollback refuses a plan that changed).
    plan_check = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True, help_text="What happened on confirming, or why it could not.")
    result_url = models.CharField(max_length=300, blank=True, help_text="Where the result is seen, e.g. the exit.")

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "target"],
                condition=models.Q(status="pending"),
                name="one_pending_proposal_per_act",
            )
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="proposal_open")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.target_label}"

    def is_open(self, now: datetime | None = None) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > (now or timezone.now())
