"""What needs an officer now: the one screen of the officer's home, each item linking to where they act.

Every section is one bounded query (its first SHOWN rows, with select_related for what the row names) and one count,
so the page costs the same at ten rows as at a million (tests/governance/test_officer_home.py holds it so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.proposals import proposals_waiting_for
from charters.models import CharterAcknowledgement, CharterVersion
from governance.models import (
    AnomalyFinding,
    DataKey,
    Exit,
    ExitAttestation,
    ExitItem,
    Grant,
    Incident,
    IncidentStep,
    ReviewItem,
)

SHOWN = 8
EXPIRING_WITHIN = timedelta(days=14)
FINDINGS_SINCE = timedelta(days=7)
DESTRUCTION_WITHIN = timedelta(days=7)


@dataclass
class Item:
    """One thing to act on: what it is, where to act, and when it is due (or happened)."""

    text: str
    url: str
    when: datetime | None = None
    note: str = ""
    urgent: bool = False
    clock: bool = False  # ``when`` is a deadline: the page counts down to it


@dataclass
class Section:
    key: str
    title: str
    items: list[Item] = field(default_factory=list)
    total: int = 0
    more_url: str = ""
    empty: str = "Nothing waiting."

    @property
    def more(self) -> int:
        return max(self.total - len(self.items), 0)


def _section(key: str, title: str, rows: QuerySet[Any], item: Any, *, more_url: str = "", empty: str = "") -> Section:
    shown = list(rows[:SHOWN])
    total = len(shown) if len(shown) < SHOWN else rows.count()
    return Section(key, title, [item(row) for row in shown], total, more_url, empty or "Nothing waiting.")


def officer_attention(user: User, *, now: datetime | None = None) -> list[Section]:
    now = now or timezone.now()
    return [
        _grant_requests(),
        _versions_to_review(user),
        _proposals(user, now),
        _my_review_items(user),
        _open_incidents(now),
        _new_findings(now),
        _expiring_grants(now),
        _exits_waiting(),
        _destructions_soon(now),
        _unaccepted_versions(),
    ]


def _grant_requests() -> Section:
    rows = Grant.objects.filter(status=Grant.Status.REQUESTED).select_related(
        "partner", "principal", "partner_role", "asset_version__asset"
    )
    return _section(
        "grant_requests",
        "Grant requests to decide",
        rows.order_by("created_at", "id"),
        lambda grant: Item(
            f"{grant.partner.name}: {grant.asset_version.asset.name} {grant.asset_version.label} for "
            f"{grant.principal.username if grant.principal else grant.partner_role.slug}",
            reverse("grant-list") + f"?grant={grant.pk}",
            grant.created_at,
            note=f"grant #{grant.pk}",
        ),
        more_url=reverse("grant-list") + "?status=requested",
    )


def _versions_to_review(user: User) -> Section:
    rows = (
        CharterVersion.objects.filter(status=CharterVersion.Status.IN_REVIEW)
        .exclude(contributors=user)
        .select_related("charter__partner", "author")
        .order_by("submitted_at", "id")
    )
    return _section(
        "versions_to_review",
        "Charter versions waiting for your approval",
        rows,
        lambda version: Item(
            f"{version.charter.slug} v{version.number}, by {version.author.username}",
            reverse("charters:version-detail", args=[version.charter.slug, version.number]),
            version.submitted_at,
        ),
        more_url=reverse("charters:charter-list"),
    )


def _proposals(user: User, now: datetime) -> Section:
    rows = proposals_waiting_for(user, now=now).order_by("expires_at", "id")
    return _section(
        "proposals",
        "Proposals for a second officer",
        rows,
        lambda proposal: Item(
            f"{proposal.get_kind_display()}: {proposal.target_label}, asked by {proposal.proposed_by.username}",
            reverse("proposals:proposal-detail", args=[proposal.pk]),
            proposal.expires_at,
            note="lapses",
            clock=True,
            urgent=proposal.expires_at - now < timedelta(hours=6),
        ),
        more_url=reverse("proposals:proposal-list"),
    )


def _my_review_items(user: User) -> Section:
    rows = (
        ReviewItem.objects.filter(reviewer=user, decision="", campaign__status="open")
        .values("campaign_id", "campaign__charter__slug", "campaign__deadline")
        .annotate(n=Count("id"))
        .order_by("campaign__deadline", "campaign_id")
    )
    return _section(
        "review_items",
        "Review items assigned to you",
        rows,
        lambda row: Item(
            f"{row['n']} item(s) in the review of {row['campaign__charter__slug']}",
            reverse("review-detail", args=[row["campaign_id"]]),
            row["campaign__deadline"],
            note="due",
            clock=True,
        ),
        more_url=reverse("review-list"),
    )


def _open_incidents(now: datetime) -> Section:
    next_step = IncidentStep.objects.filter(incident=OuterRef("pk"), status=IncidentStep.Status.PENDING).order_by(
        "due_at", "position"
    )
    rows = (
        Incident.objects.filter(status=Incident.Status.OPEN)
        .select_related("partner", "charter")
        .annotate(
            next_title=Subquery(next_step.values("title")[:1]),
            next_owner=Subquery(next_step.values("owner_role")[:1]),
            next_due=Subquery(next_step.values("due_at")[:1]),
        )
        .order_by(F("next_due").asc(nulls_last=True), "id")
    )

    def item(incident: Any) -> Item:
        label = "Drill" if incident.drill else "Incident"
        step = f"next: {incident.next_title} ({incident.next_owner.replace('_', ' ')})" if incident.next_title else ""
        return Item(
            f"{label} #{incident.pk} on {incident.charter.slug}: {incident.title}",
            reverse("incident-detail", args=[incident.pk]),
            incident.next_due or incident.remediation_due_at,
            note=step or "remediation due",
            clock=True,
            urgent=(incident.next_due or incident.remediation_due_at) <= now,
        )

    return _section("incidents", "Open incidents and their next clock", rows, item, more_url=reverse("incident-list"))


def _new_findings(now: datetime) -> Section:
    rows = (
        AnomalyFinding.objects.filter(created_at__gte=now - FINDINGS_SINCE)
        .select_related("grant__partner", "incident")
        .order_by("-created_at", "-id")
    )

    def item(finding: Any) -> Item:
        where = (
            reverse("incident-detail", args=[finding.incident_id])
            if finding.incident_id
            else reverse("grant-list") + f"?grant={finding.grant_id}"
        )
        return Item(
            f"{finding.name} ({finding.severity}) on grant #{finding.grant_id} of {finding.grant.partner.name}: "
            f"{finding.summary}",
            where,
            finding.created_at,
            urgent=finding.severity in ("high", "critical"),
        )

    return _section("findings", "Anomaly findings this week", rows, item, empty="No finding in the last 7 days.")


def _expiring_grants(now: datetime) -> Section:
    rows = (
        Grant.objects.filter(status=Grant.Status.ACTIVE, valid_until__gte=now, valid_until__lt=now + EXPIRING_WITHIN)
        .select_related("partner", "principal", "partner_role", "asset_version__asset")
        .order_by("valid_until", "id")
    )
    return _section(
        "expiring_grants",
        "Grants ending in the next 14 days",
        rows,
        lambda grant: Item(
            f"#{grant.pk} {grant.partner.name}: {grant.asset_version.asset.name} {grant.asset_version.label}",
            reverse("grant-list") + f"?grant={grant.pk}",
            grant.valid_until,
            note="ends",
            clock=True,
        ),
    )


def _exits_waiting() -> Section:
    awaiting_migration = ExitItem.objects.filter(exit=OuterRef("pk"), status=ExitItem.Status.AWAITING_MIGRATION)
    scheduled = ExitItem.objects.filter(exit=OuterRef("pk"), status=ExitItem.Status.SCHEDULED)
    rows = (
        Exit.objects.exclude(status=Exit.Status.CLOSED)
        .select_related("charter", "partner")
        .annotate(
            migrating=Exists(awaiting_migration),
            destroying=Exists(scheduled),
            attested=Exists(ExitAttestation.objects.filter(exit=OuterRef("pk"))),
        )
        .order_by("started_at", "id")
    )

    def item(exit_: Any) -> Item:
        return Item(
            f"Exit of {exit_.charter.slug} ({exit_.partner.name})",
            reverse("exit-detail", args=[exit_.pk]),
            exit_.started_at,
            note=_waiting_on(exit_),
        )

    return _section("exits", "Exits not closed yet", rows, item, more_url=reverse("exit-list"))


def _waiting_on(exit_: Any) -> str:
    if exit_.status == Exit.Status.REVOKING:
        return "waits on the worker revoking access"
    waits = []
    if exit_.migrating:
        waits.append("an officer confirming a hand-over")
    if exit_.plan.get("partner_attests_destruction") and not exit_.attested:
        waits.append(f"{exit_.partner.name}'s attestation")
    if exit_.destroying:
        waits.append("scheduled destructions")
    return "waits on " + ", ".join(waits) if waits else "closes at its next tick"


def _destructions_soon(now: datetime) -> Section:
    rows = (
        DataKey.objects.filter(status=DataKey.Status.PENDING_DESTRUCTION, destroy_after__lt=now + DESTRUCTION_WITHIN)
        .select_related("partner", "asset_version__asset")
        .order_by("destroy_after", "id")
    )

    def item(key: Any) -> Item:
        of = f"{key.asset_version.asset.name} {key.asset_version.label}" if key.asset_version else "a delivery"
        return Item(
            f"Key {key.key_id} ({of}{', ' + key.partner.name if key.partner else ''})",
            reverse("artefact-list"),
            key.destroy_after,
            note="grace ends",
            clock=True,
        )

    return _section("destructions", "Key destructions whose grace ends this week", rows, item)


def _unaccepted_versions() -> Section:
    accepted = CharterAcknowledgement.objects.filter(version=OuterRef("pk"))
    rows = (
        CharterVersion.objects.filter(status=CharterVersion.Status.ACTIVE)
        .exclude(Exists(accepted))
        .select_related("charter__partner")
        .order_by("approved_at", "id")
    )
    return _section(
        "unaccepted",
        "Active charter versions the partner has not accepted",
        rows,
        lambda version: Item(
            f"{version.charter.slug} v{version.number} ({version.charter.partner.name})",
            reverse("charters:charter-detail", args=[version.charter.slug]),
            version.approved_at,
            note="approved",
        ),
    )
