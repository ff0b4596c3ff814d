"""Reading access reviews: each item with the evidence its reviewer needs, and the report."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from governance.decisions.records import use_tallies
from governance.models import Grant, PartnerRole, ReviewCampaign, ReviewItem

EVIDENCE_DAYS = 30


@dataclass(frozen=True)
class Evidence:
    """What the trail says of a grant's use up to ``until``: its last allowed use in its life, and over the
    EVIDENCE_DAYS days before ``until`` its allowed uses and the denies of its grantee on its asset."""

    until: datetime
    last_use: datetime | None = None
    uses: int = 0
    denies: int = 0


@dataclass(frozen=True)
class ReviewRow:
    item: ReviewItem
    evidence: Evidence


def review_evidence_until(campaign: ReviewCampaign, now: datetime | None = None) -> datetime:
    """Evidence ends when the review closed, so a closed review's page and report show what its reviewers saw."""
    return campaign.closed_at or now or timezone.now()


def review_rows(campaign: ReviewCampaign, *, now: datetime | None = None) -> list[ReviewRow]:
    """The review's items in order, each with its grant's evidence: at most three queries, whatever its size."""
    items = list(campaign.items.select_related("reviewer", "grant__asset_version").order_by("pk"))
    evidence = review_evidence([item.grant for item in items], until=review_evidence_until(campaign, now))
    return [ReviewRow(item, evidence[item.grant_id]) for item in items]


def review_evidence(grants: Sequence[Grant], *, until: datetime) -> dict[int, Evidence]:
    """Each grant's Evidence, by grant id, from the decision events of the trail in one aggregate query (and one
    more for the members of the partner roles among the grantees).

    An allow names the grant it used. Most denies name none (no grant let the request through), so a deny counts
    against every grant of the asking principal on the asked asset; one that names its grant (a quota or the rate
    limit refused it) counts against that grant only.
    """
    if not grants:
        return {}
    since = until - timedelta(days=EVIDENCE_DAYS)
    born = min(grant.created_at for grant in grants)  # no grant was used before it existed
    askers = _askers(grants)
    by_ask: dict[tuple[str, str], list[int]] = defaultdict(list)
    for grant in grants:
        for actor in askers[grant.pk]:
            by_ask[(actor, grant.asset_version.fingerprint)].append(grant.pk)
    tallies = use_tallies(
        grant_ids=askers,
        principals={actor for actor, _ in by_ask},
        assets={asset for _, asset in by_ask},
        born=born,
        since=since,
        until=until,
    )
    last: dict[int, datetime] = {}
    uses: dict[int, int] = defaultdict(int)
    denies: dict[int, int] = defaultdict(int)
    for tally in tallies:
        named = tally.grant_id
        if tally.allow:
            if named is not None:
                uses[named] += tally.recent
                last[named] = max(last.get(named, tally.last), tally.last)
            continue
        asked = by_ask.get((tally.principal, tally.asset), [])
        for grant_id in [named] if named is not None else asked:
            if grant_id in askers:
                denies[grant_id] += tally.recent
    return {
        grant.pk: Evidence(until=until, last_use=last.get(grant.pk), uses=uses[grant.pk], denies=denies[grant.pk])
        for grant in grants
    }


def _askers(grants: Sequence[Grant]) -> dict[int, set[str]]:
    """Who may ask under each grant, by grant id, as the trail names actors: its principal, or its partner role's
    members (one query for all the roles)."""
    askers: dict[int, set[str]] = {grant.pk: set() for grant in grants}
    role_grants: dict[int, list[int]] = defaultdict(list)
    for grant in grants:
        if grant.principal_id is not None:
            askers[grant.pk].add(str(grant.principal_id))
        elif grant.partner_role_id is not None:
            role_grants[grant.partner_role_id].append(grant.pk)
    if not role_grants:
        return askers
    members = PartnerRole.members.through.objects.filter(partnerrole_id__in=role_grants)
    for role_id, user_id in members.values_list("partnerrole_id", "user_id"):
        for grant_id in role_grants[role_id]:
            askers[grant_id].add(str(user_id))
    return askers


def review_report(campaign: ReviewCampaign) -> str:
    """The review as CSV: each item, the grant as it stood, who answered what and why, what became of it, and the
    evidence of the grant's use (up to when the review closed, or to now while it is open)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["review", "charter", "item", "grant", "grantee", "asset", "actions", "purposes", "reviewer",
                     "decision", "justification", "decided_at", "outcome", "last_use",
                     f"uses_{EVIDENCE_DAYS}d", f"denies_{EVIDENCE_DAYS}d", "evidence_until"])  # fmt: skip
    for row in review_rows(campaign):
        item, evidence, snapshot = row.item, row.evidence, row.item.snapshot
        writer.writerow([campaign.pk, campaign.charter.slug, item.pk, item.grant_id, snapshot.get("grantee", ""),
                         snapshot.get("fingerprint", ""), " ".join(snapshot.get("actions", [])),
                         " ".join(snapshot.get("purposes", [])), item.reviewer.username, item.decision,
                         item.justification, item.decided_at.isoformat() if item.decided_at else "",
                         item.outcome, evidence.last_use.isoformat() if evidence.last_use else "",
                         evidence.uses, evidence.denies, evidence.until.isoformat()])  # fmt: skip
    return buffer.getvalue()


def reviews_with_counts() -> QuerySet[ReviewCampaign]:
    """The reviews, newest first, each with its number of items (``total``) and of those waiting (``waiting``)."""
    return (
        ReviewCampaign.objects.select_related("charter")
        .annotate(total=Count("items"), waiting=Count("items", filter=Q(items__outcome="")))
        .order_by("-created_at", "-id")
    )
