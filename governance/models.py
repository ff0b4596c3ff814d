from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task that beat schedules: proof that beat, the
    broker and the worker all work. Reported by /healthz as information."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


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
        indexes = [models.Index(fields=["asset_version", "status"], name="grant_asset_status_idx")]

    def __str__(self) -> str:
        return f"grant #{self.pk} {self.grantee} on {self.asset_version_id}"

    @property
    def grantee(self) -> str:
        return self.principal.username if self.principal is not None else f"role {self.partner_role}"


class DecisionSession(models.Model):
    """A time-limited session for a grant that requires one. Only the token's digest is stored."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="sessions")
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


class PolicyBundle(models.Model):
    """One state of the compiled policy, as a change in the policy feed left it: immutable, named by its hash.

    Stored as the lines it adds to and removes from the bundle before it. Every few bundles one also carries the
    facts it was compiled from (a checkpoint), so that any bundle's lines are rebuilt from the nearest checkpoint
    before it, and the recorder restarts from there.
    """

    seq = models.BigIntegerField(unique=True, help_text="The policy feed change that made this bundle.")
    hash = models.CharField(max_length=64, db_index=True)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    change_kind = models.CharField(max_length=16, blank=True, help_text="grant, charter or role; empty for the first.")
    change_object = models.BigIntegerField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    added = models.JSONField(
        default=list, help_text='Lines added: ["p", sub, dom, obj, act, purpose, effect] or ["g", member, role, dom].'
    )
    removed = models.JSONField(default=list, help_text="Lines removed, in the same form.")
    line_count = models.PositiveIntegerField()
    checkpoint = models.JSONField(null=True, blank=True, help_text="The facts compiled, on checkpoint bundles.")

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"bundle {self.hash[:12]} at change {self.seq}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Policy bundles are immutable: a recorded bundle cannot be changed.")
        super().save(*args, **kwargs)


class WhatIfRun(models.Model):
    """One what-if replay asked for by an officer: its candidate, its window, its progress and its report.

    Run by a worker (a replay may read a million decisions); the page shows its progress until the report is in.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    charter_version = models.ForeignKey(
        "charters.CharterVersion", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    days = models.PositiveSmallIntegerField(help_text="How many days of recorded decisions are replayed.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    scanned = models.PositiveBigIntegerField(default=0, help_text="Trail events read so far.")
    total = models.PositiveBigIntegerField(default=0, help_text="Trail events in the window.")
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(charter_version__isnull=False) & models.Q(grant__isnull=True))
                | (models.Q(charter_version__isnull=True) & models.Q(grant__isnull=False)),
                name="whatif_one_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"what-if #{self.pk} ({self.status})"


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


class AnomalyFinding(models.Model):
    """A grant's use that broke one of its charter's misuse rules, once per rule and window: the record an
    incident can later point to."""

    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="findings")
    rule = models.CharField(max_length=32, help_text="usage_spike, outside_window, denied_exports, new_client_address")
    name = models.CharField(max_length=64, help_text="The misuse definition's name in the charter.")
    severity = models.CharField(max_length=16)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    incident = models.ForeignKey(
        "Incident", on_delete=models.PROTECT, null=True, blank=True, related_name="findings", help_text="Opened by it."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "name", "window_start"], name="one_finding_per_rule_and_window")
        ]

    def __str__(self) -> str:
        return f"{self.name} on grant #{self.grant_id} at {self.window_end:%Y-%m-%d %H:%M}"


class ReviewCampaign(models.Model):
    """An access review of one charter's grants: created on the charter's cadence or on demand, with a deadline
    by which each item is kept or revoked; unanswered items are then revoked or escalated, as the charter says."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    charter = models.ForeignKey("charters.Charter", on_delete=models.PROTECT, related_name="review_campaigns")
    trigger = models.CharField(max_length=16, help_text="cadence or on_demand")
    unanswered = models.CharField(max_length=16, help_text="What the deadline does to an unanswered item.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150)
    deadline = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True, help_text="Who closed it: a person or the scheduled run.")
    close_reason = models.TextField(blank=True, help_text="Why an officer closed it before every item was answered.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charter"],
                condition=models.Q(status="open"),
                name="one_open_review_per_charter",
                violation_error_message="This charter already has an open review.",
            )
        ]

    def __str__(self) -> str:
        return f"review #{self.pk} of {self.charter_id}"


class ReviewItem(models.Model):
    """One grant in a review, as it stood when the review began, and what became of it."""

    class Decision(models.TextChoices):
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    class Outcome(models.TextChoices):
        KEPT = "kept", "Kept"
        REVOKED = "revoked", "Revoked"
        ESCALATED = "escalated", "Escalated"
        GONE = "gone", "Ended before the review did"

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="review_items")
    snapshot = models.JSONField(help_text="The grant as it stood when the review began.")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_items")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    justification = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "grant"], name="one_item_per_grant_and_review")]

    def __str__(self) -> str:
        return f"item #{self.pk}: grant #{self.grant_id}"


class Incident(models.Model):
    """A declared breach or suspected misuse, run by its charter's playbook: each step a checklist item with a
    deadline counted from the declaration. A drill runs the same checklist and clocks without touching a grant
    or telling the partner; its timings are kept as evidence of readiness."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="incidents")
    charter = models.ForeignKey("charters.Charter", on_delete=models.PROTECT, related_name="incidents")
    playbook = models.ForeignKey("charters.IncidentPlaybook", on_delete=models.PROTECT, related_name="incidents")
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=16)
    summary = models.TextField()
    drill = models.BooleanField(default=False, help_text="A tabletop exercise: nothing real is suspended or sent.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    declared_by = models.CharField(max_length=150, help_text="Who declared it, as the trail names them.")
    declared_at = models.DateTimeField(default=timezone.now)
    remediation_due_at = models.DateTimeField(help_text="The charter's remediation clock, from the declaration.")
    notify = models.JSONField(default=list, help_text="The addresses the charter and the playbook name.")
    evidence = models.ForeignKey(
        "audit.EvidenceBundle", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-declared_at", "-id"]
        indexes = [models.Index(fields=["status", "charter"], name="incident_status_charter_idx")]

    def __str__(self) -> str:
        return f"{'drill' if self.drill else 'incident'} #{self.pk}: {self.title}"


class IncidentStep(models.Model):
    """One playbook step of an incident, due ``deadline_hours`` after the declaration."""

    class Status(models.TextChoices):
        PENDING = "pending", "To do"
        DONE = "done", "Done"
        NOT_DONE = "not_done", "Not done when the incident closed"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    owner_role = models.CharField(max_length=32)
    deadline_hours = models.PositiveIntegerField()
    automatic = models.CharField(max_length=32, blank=True, help_text="suspend_grants, preserve_evidence, notify")
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    result = models.JSONField(default=dict, help_text="What an automatic step did (or, in a drill, would do).")
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "position"]
        constraints = [models.UniqueConstraint(fields=["incident", "position"], name="one_step_per_position")]
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(status="pending"), name="incident_step_pending_idx")
        ]

    def __str__(self) -> str:
        return f"step {self.position} of incident #{self.incident_id}: {self.title}"

    @property
    def owner_label(self) -> str:
        return self.owner_role.replace("_", " ").capitalize()


class Exit(models.Model):
    """The end of one charter's collaboration, run by its exit plan: revoke, dispose of each asset as planned,
    collect the partner's attestation and the certificates of destruction, then close with a report."""

    class Status(models.TextChoices):
        REVOKING = "revoking", "Revoking access"
        WINDING_DOWN = "winding_down", "Disposing of assets"
        CLOSED = "closed", "Closed"

    charter = models.OneToOneField("charters.Charter", on_delete=models.PROTECT, related_name="exit")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="exits")
    plan = models.JSONField(help_text="The exit plan of the charter version it ran under.")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REVOKING)
    started_by = models.CharField(max_length=150)
    started_at = models.DateTimeField(default=timezone.now)
    ends_partner_access = models.BooleanField(
        help_text="The partner has no other live charter: every token goes, the admins' narrowed until closing."
    )
    revocations_done_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True, help_text="The exit report, written when the exit closes.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"exit of {self.charter_id}"


class ExitItem(models.Model):
    """One line of the exit plan resolved to what it covers: an asset version the partner held, or the outputs
    produced for it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Destruction scheduled"
        DESTROYED = "destroyed", "Destroyed"
        NOTHING_HELD = "nothing_held", "Nothing stored to destroy"
        RETAINED = "retained", "Retained"
        AWAITING_MIGRATION = "awaiting_migration", "Awaiting migration"
        MIGRATED = "migrated", "Migrated"
        KEPT = "kept", "Destruction cancelled"

    FINAL = (Status.DESTROYED, Status.NOTHING_HELD, Status.RETAINED, Status.MIGRATED, Status.KEPT)

    exit = models.ForeignKey(Exit, on_delete=models.CASCADE, related_name="items")
    asset_version = models.ForeignKey(
        "charters.AssetVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=300, help_text="What the line covers, as people say it.")
    outputs = models.BooleanField(default=False, help_text="The line for the outputs produced for the partner.")
    disposition = models.CharField(max_length=16, help_text="retain, migrate or destroy")
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(blank=True)
    done_by = models.CharField(max_length=150, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["exit", "id"]

    def __str__(self) -> str:
        return f"{self.disposition} {self.subject}"


class ExitAttestation(models.Model):
    """The partner admin's statement that the partner destroyed its copies of what the plan destroys."""

    exit = models.OneToOneField(Exit, on_delete=models.PROTECT, related_name="attestation")
    partner_admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    method = models.CharField(max_length=200)
    destroyed = models.JSONField(help_text="The fingerprints of the asset versions attested as destroyed.")
    attested_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"attestation for exit #{self.exit_id}"


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
    exit_item = models.ForeignKey(ExitItem, on_delete=models.PROTECT, null=True, blank=True, related_name="keys")
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
    exit = models.ForeignKey(Exit, on_delete=models.PROTECT, null=True, blank=True, related_name="certificates")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    document = models.JSONField()
    signature = models.CharField(max_length=200, help_text="Ed25519 over the document's canonical JSON, base64.")
    signing_key_id = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return f"certificate {self.number}"
