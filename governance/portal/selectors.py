"""What a partner's admin sees of their own access: the portal's reads. Everything here is scoped to the admin's
own partner by its first filter, and holds nothing of the host's own terms (charters/documents.py): thresholds,
notification lists and drills stay the host's.

Each section is a bounded number of queries (the grants' quota counters one round trip to Redis for the grants
shown), so the portal costs the same for a partner with ten grants as for one with a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, Max, OuterRef, QuerySet
from django.urls import reverse

from accounts.models import User
from audit.models import DECISION_ACTIONS, Event
from charters.models import AssetVersion, Charter, CharterAcknowledgement, CharterVersion
from charters.terms import terms_of
from governance.decisions import limits
from governance.decisions.records import RecordedDecision
from governance.models import Exit, ExitAttestation, Grant, Incident, IncidentStep, ReviewCampaign

GRANTS_SHOWN = 50
DECISIONS_SHOWN = 20
UPCOMING_WITHIN = timedelta(days=30)


def _partner(user: User) -> Any:
    assert user.is_partner_admin  # noqa: S101 (the matrix lets only partner admins reach the portal)
    return user.organisation


def versions_to_accept(user: User) -> QuerySet[CharterVersion]:
    """The partner's approved charter versions that no one of the partner has accepted yet."""
    accepted = CharterAcknowledgement.objects.filter(version=OuterRef("pk"))
    return (
        CharterVersion.objects.filter(charter__partner=_partner(user), status=CharterVersion.Status.ACTIVE)
        .exclude(Exists(accepted))
        .select_related("charter")
        .order_by("charter__slug")
    )


@dataclass(frozen=True)
class GrantUse:
    """A grant with what is used of its limits now (UTC day and month), from the counters the decision point
    enforces; ``None`` when they did not answer."""

    grant: Grant
    used: limits.Used | None

    @property
    def left_today(self) -> int | None:
        return None if self.used is None else max(self.grant.daily_quota - self.used.day, 0)

    @property
    def left_this_month(self) -> int | None:
        return None if self.used is None else max(self.grant.monthly_quota - self.used.month, 0)


def grants_in_use(user: User, now: datetime) -> tuple[list[GrantUse], int, bool]:
    """The partner's live and requested grants, soonest to expire first (the first GRANTS_SHOWN), with their quota
    use; and how many there are, and whether the counters answered."""
    grants = Grant.objects.filter(
        partner=_partner(user), status__in=(*Grant.LIVE, Grant.Status.REQUESTED)
    ).select_related("principal", "partner_role", "asset_version__asset", "charter")
    shown = list(grants.order_by("valid_until", "pk")[:GRANTS_SHOWN])
    live = [grant for grant in shown if grant.status in Grant.LIVE]
    try:
        counted = dict(zip((grant.pk for grant in live), limits.used_many(live, now), strict=True))
        answered = True
    except limits.LimitsUnavailableError:
        counted, answered = {}, False
    return [GrantUse(grant, counted.get(grant.pk)) for grant in shown], grants.count(), answered


@dataclass(frozen=True)
class SharedVersion:
    """An asset version the partner may use, and for what: the actions and purposes of its live grants."""

    asset_version: Any
    actions: list[str]
    purposes: list[str]
    until: datetime


def shared_versions(user: User) -> list[SharedVersion]:
    """One row per asset version the partner's active grants cover, from one grouped query: the grants differ in
    a few combinations of actions and purposes, however many there are."""
    combinations = (
        Grant.objects.filter(partner=_partner(user), status=Grant.Status.ACTIVE)
        .values("asset_version_id", "actions", "purposes")
        .annotate(until=Max("valid_until"))
        .order_by()
    )
    found: dict[int, SharedVersion] = {}
    versions = AssetVersion.objects.select_related("asset").in_bulk({row["asset_version_id"] for row in combinations})
    for row in combinations:
        seen = found.get(row["asset_version_id"])
        found[row["asset_version_id"]] = SharedVersion(
            versions[row["asset_version_id"]],
            sorted({*(seen.actions if seen else ()), *row["actions"]}),
            sorted({*(seen.purposes if seen else ()), *row["purposes"]}),
            max(seen.until, row["until"]) if seen else row["until"],
        )
    return sorted(found.values(), key=lambda shared: (shared.asset_version.asset.name, shared.asset_version.label))


@dataclass(frozen=True)
class Upcoming:
    when: datetime
    text: str
    url: str


def upcoming(user: User, now: datetime) -> list[Upcoming]:
    """In the next 30 days: grants that expire, and the access reviews each charter's cadence makes due (the host
    starts them; the partner's grants are what they review)."""
    partner = _partner(user)
    items = [
        Upcoming(
            grant.valid_until,
            f"Grant #{grant.pk} on {grant.asset_version} expires",
            reverse("grant-list") + f"?grant={grant.pk}",
        )
        for grant in Grant.objects.filter(
            partner=partner, status__in=Grant.LIVE, valid_until__gte=now, valid_until__lt=now + UPCOMING_WITHIN
        )
        .select_related("asset_version__asset")
        .order_by("valid_until")[:GRANTS_SHOWN]
    ]
    charters = (
        Charter.objects.filter(partner=partner, status=Charter.Status.ACTIVE)
        .select_related("active_version")
        .annotate(last_review=Max("review_campaigns__created_at"))
    )
    for charter in charters:
        version = charter.active_version
        cadence = terms_of(version).review.cadence_days if version else None
        since = charter.last_review or (version.approved_at if version else None)
        if isinstance(cadence, int) and since is not None:
            due = since + timedelta(days=cadence)
            if due < now + UPCOMING_WITHIN:
                items.append(
                    Upcoming(
                        max(due, now),
                        f"Access review of charter {charter.slug}",
                        reverse("charters:charter-detail", args=[charter.slug]),
                    )
                )
    open_reviews = ReviewCampaign.objects.filter(charter__partner=partner, status=ReviewCampaign.Status.OPEN)
    items += [
        Upcoming(
            review.deadline,
            f"Access review of charter {review.charter.slug} ends",
            reverse("charters:charter-detail", args=[review.charter.slug]),
        )
        for review in open_reviews.select_related("charter")
    ]
    return sorted(items, key=lambda item: item.when)


def steps_waiting(user: User) -> QuerySet[IncidentStep]:
    """The steps the partner's admin owns in the partner's open incidents (never a drill's)."""
    return (
        IncidentStep.objects.filter(
            incident__partner=_partner(user),
            incident__status=Incident.Status.OPEN,
            incident__drill=False,
            owner_role="partner_admin",
            status=IncidentStep.Status.PENDING,
        )
        .select_related("incident")
        .order_by("due_at", "pk")
    )


def incidents_of(user: User) -> QuerySet[Incident]:
    """The partner's incidents that concern it (not drills), newest first."""
    return Incident.objects.filter(partner=_partner(user), drill=False).prefetch_related("steps")


def exits_of(user: User) -> list[tuple[Exit, bool]]:
    """The partner's exits, and whether each waits for the partner's attestation."""
    attested = ExitAttestation.objects.filter(exit=OuterRef("pk"))
    rows = (
        Exit.objects.filter(partner=_partner(user))
        .select_related("charter")
        .annotate(attested=Exists(attested))
        .order_by("-started_at")
    )
    return [(exit_, exit_.status != Exit.Status.CLOSED and not exit_.attested) for exit_ in rows]


def recent_decisions(user: User) -> list[RecordedDecision]:
    """The partner's latest decisions, allows and denies with their reasons, from its slice of the trail."""
    events = Event.objects.filter(partner=_partner(user).slug, action__in=DECISION_ACTIONS).order_by("-id")
    return [RecordedDecision.of(event) for event in events[:DECISIONS_SHOWN]]
