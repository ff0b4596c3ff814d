from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import Organisation, Partner

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


class ImmutableVersionError(Exception):
    """A charter version that left draft is history: it cannot be changed, only superseded."""


class IncidentPlaybook(models.Model):
    """How an incident is run: ordered steps with an owner role, a deadline counted from the declaration and,
    for some, an automatic action. Shared by charters, so a playbook never changes once created: a changed
    playbook is a new one with a new name."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    severity_levels = models.JSONField(default=list)
    notify = models.JSONField(default=list, help_text="Addresses told about every incident run by this playbook.")
    steps = models.JSONField(help_text="Ordered: [{title, owner_role, deadline_hours, automatic?}].")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title

    def as_document(self) -> dict[str, object]:
        return {
            "name": self.slug,
            "title": self.title,
            "severity_levels": self.severity_levels,
            "notify": self.notify,
            "steps": self.steps,
        }


class Charter(models.Model):
    """The agreement with one partner. Its content lives in versions; the charter carries the lifecycle."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        TERMINATED = "terminated", "Terminated"
        EXPIRED = "expired", "Expired"

    slug = models.SlugField(max_length=64, unique=True, help_text="The charter's name in files and the API.")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="charters")
    title = models.CharField(max_length=200, help_text="The newest version's title.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    active_version = models.ForeignKey(
        "CharterVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class CharterVersion(models.Model):
    """One immutable version of a charter's content. Drafts may be edited (with a revision check against
    concurrent edits); once submitted, the content never changes again."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN = (Status.DRAFT, Status.IN_REVIEW)

    charter = models.ForeignKey(Charter, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    document = models.JSONField(help_text="The content without the exit plan: what the YAML file says.")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON of the whole version.")
    agreement_hash = models.CharField(
        max_length=64,
        help_text="SHA-256 of the canonical JSON of the agreement: the version without its host-only terms "
        "(charters/documents.py agreement_of). What the partner reads and accepts.",
    )
    playbook = models.ForeignKey(IncidentPlaybook, on_delete=models.PROTECT, related_name="charter_versions")
    revision = models.PositiveIntegerField(default=1, help_text="Goes up with each edit of a draft.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    contributors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="+", help_text="Everyone who wrote this version: none may approve it."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["charter", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["charter", "number"], name="charter_version_number_unique"),
            models.UniqueConstraint(
                fields=["charter"],
                condition=models.Q(status__in=["draft", "in_review"]),
                name="one_open_version_per_charter",
                violation_error_message="This charter already has a version in draft or in review.",
            ),
            models.UniqueConstraint(
                fields=["charter"], condition=models.Q(status="active"), name="one_active_version_per_charter"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charter.slug} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            stored = CharterVersion.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored is not None and stored != self.Status.DRAFT:
                raise ImmutableVersionError(
                    f"{self} is {stored.replace('_', ' ')}: its content cannot change. Amend the charter instead."
                )
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class ExitPlan(models.Model):
    """What happens to each asset (or class of asset) when the collaboration ends, per charter version."""

    version = models.OneToOneField(CharterVersion, on_delete=models.PROTECT, related_name="exit_plan")
    items = models.JSONField(help_text="[{asset+version or asset_kind, disposition, retention_days?}]")
    outputs_owner = models.CharField(
        max_length=16, choices=[("host", "Host"), ("partner", "Partner"), ("joint", "Joint")]
    )
    knowledge_transfer = models.JSONField(default=list, blank=True)
    partner_attests_destruction = models.BooleanField()

    def __str__(self) -> str:
        return f"exit plan of {self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and self.version.status != CharterVersion.Status.DRAFT:
            raise ImmutableVersionError(f"The exit plan of {self.version} is part of its history and cannot change.")
        super().save(*args, **kwargs)

    def as_document(self) -> dict[str, object]:
        return {
            "items": self.items,
            "outputs_owner": self.outputs_owner,
            "knowledge_transfer": self.knowledge_transfer,
            "partner_attests_destruction": self.partner_attests_destruction,
        }


class CharterAcknowledgement(models.Model):
    """A partner admin accepted a charter version and confirmed its trainings: a click-through agreement."""

    version = models.ForeignKey(CharterVersion, on_delete=models.PROTECT, related_name="acknowledgements")
    partner_admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)

    class Covers(models.TextChoices):
        AGREEMENT = "agreement", "The agreement (the version without its host-only terms)"
        VERSION = "version", "The whole version (acceptances made before charters had host-only terms)"

    content_hash = models.CharField(max_length=64, help_text="The hash of what was accepted (see covers).")
    covers = models.CharField(
        max_length=16,
        choices=Covers.choices,
        default=Covers.AGREEMENT,
        help_text="What content_hash is the hash of: the agreement, or for older acceptances the whole version.",
    )
    trainings = models.JSONField(default=list, help_text="[{name, version}] confirmed.")

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "partner_admin"], name="one_acknowledgement_per_admin")
        ]

    def __str__(self) -> str:
        return f"{self.version} accepted by {self.partner_admin}"


class PolicyHead(models.Model):
    """The newest change in the policy feed: a single row (pk 1).

    Every change takes this row's lock when it appends to the feed and keeps it until it commits, so changes
    commit in the order of their numbers: a reader that sees change N has seen every change before it.
    """

    seq = models.BigIntegerField(default=0)
    token = models.CharField(max_length=32, default="", help_text="The newest change's token.")

    def __str__(self) -> str:
        return f"policy feed at {self.seq}"


class PolicyChange(models.Model):
    """One change to something decisions depend on: a charter's state or terms, a grant, a role's members, the end
    of decision sessions.

    The feed lives here, in the lowest app whose changes alter the policy: charter transitions append to it, and
    governance (which may import charters, not the other way round) appends its grant and role changes. Each
    process keeps its compiled policy current by applying the changes after the one it last saw; each change's
    random token lets it notice when the feed's history is not the one it saw (a restored database).
    """

    class Kind(models.TextChoices):
        CHARTER = "charter", "Charter"
        GRANT = "grant", "Grant"
        ROLE = "role", "Partner role"
        # Decision sessions that ended early (their grant stopped, their enclave's measurement was removed): every
        # process must stop honouring them at once, so the end travels the feed like any other change.
        SESSIONS = "sessions", "Decision sessions ended"

    seq = models.BigIntegerField(primary_key=True)
    token = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.BigIntegerField()
    state = models.JSONField(
        default=dict, help_text="What the object says to decisions after the change, so that the feed replays exactly."
    )
    actor = models.CharField(max_length=150, blank=True, help_text="Who made the change, as the trail names them.")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.object_id}"
