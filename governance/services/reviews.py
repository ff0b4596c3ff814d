"""Access reviews: officers certify, on each charter's cadence or on demand, which grants its partner still needs.

A review snapshots the charter's live grants as items and shares them among the officers. Each item is kept or
revoked with a justification, singly or in bulk; a revocation revokes the grant at once, through the ordinary
audited transition. Two days before the deadline the reviewers are reminded of what is left. At the deadline every
unanswered item is revoked or escalated to the officers, as the charter's `review.unanswered` says, and the review
closes.

The scheduled run (every minute) does all of this. Each item is resolved in its own transaction, behind a
compare-and-swap on its outcome, with the grant's revocation in the same transaction: a run that a killed worker
left half-done is finished by the next one, and nothing is revoked or mailed twice.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import active_officers
from accounts.models import User
from accounts.roles import Role
from audit.trail import Actor, record
from charters.models import Charter
from governance.models import Grant, ReviewCampaign, ReviewItem
from governance.policy.bundle import GrantFact
from governance.services import grants as grant_services
from governance.services.outbox import mail_enqueue

REVIEWS = Actor.system("access-reviews")
DEADLINE_DAYS = 14
REMIND_BEFORE = timedelta(days=2)
_RELATED = ("partner", "charter", "asset_version__asset", "principal", "partner_role__partner")


def _officers() -> list[User]:
    return list(active_officers().order_by("username"))


def _terms(charter: Charter) -> dict[str, object]:
    if charter.active_version is None:
        raise ValidationError({"charter": f"Charter {charter.slug} has no active version to review grants under."})
    return dict(charter.active_version.document.get("review", {}))


def _reviewer_for(grant: Grant, officers: list[User], number: int) -> User:
    """The officers in turn, skipping the one who approved the grant when another can review it."""
    for offset in range(len(officers)):
        officer = officers[(number + offset) % len(officers)]
        if officer.pk != grant.approved_by_id:
            return officer
    return officers[number % len(officers)]


def review_start(
    *, charter: Charter, by: Actor, trigger: str = "on_demand", now: datetime | None = None
) -> ReviewCampaign:
    """Begin a review of the charter's live grants, shared among the officers, due in DEADLINE_DAYS days."""
    now = now or timezone.now()
    terms = _terms(charter)
    officers = _officers()
    if not officers:
        raise ValidationError({"charter": "There is no active officer to review grants: add one first."})
    grants = list(Grant.objects.select_related(*_RELATED).filter(charter=charter, status__in=Grant.LIVE))
    if not grants:
        raise ValidationError({"charter": f"Charter {charter.slug} has no active or suspended grant to review."})
    try:
        with transaction.atomic():
            campaign = ReviewCampaign.objects.create(
                charter=charter,
                trigger=trigger,
                unanswered=str(terms.get("unanswered", "revoke")),
                created_at=now,
                created_by=by.label,
                deadline=now + timedelta(days=DEADLINE_DAYS),
            )
            assigned = {grant.pk: _reviewer_for(grant, officers, number) for number, grant in enumerate(grants)}
            for grant in grants:
                ReviewItem.objects.create(
                    campaign=campaign,
                    grant=grant,
                    snapshot={**GrantFact.of(grant).as_state(), "grantee": grant.grantee},
                    reviewer=assigned[grant.pk],
                )
            record(
                action="review.started",
                actor=by,
                partner=charter.partner.slug,
                target=campaign,
                details={
                    "charter": charter.slug,
                    "trigger": trigger,
                    "items": len(grants),
                    "deadline": campaign.deadline,
                    "unanswered": campaign.unanswered,
                },
            )
            for reviewer in set(assigned.values()):
                mail_enqueue(
                    key=f"review-{campaign.pk}-assigned-{reviewer.pk}",
                    to=[reviewer.email],
                    subject=f"[Accord] Access review of {charter.slug}: items for you by {campaign.deadline:%Y-%m-%d}",
                    body=f"Review #{campaign.pk} of {charter.slug} has grants for you to keep or revoke by "
                    f"{campaign.deadline:%Y-%m-%d %H:%M} UTC. Unanswered ones are then {campaign.unanswered}d.\n",
                )
    except IntegrityError:
        raise ValidationError({"charter": f"Charter {charter.slug} already has an open review."}) from None
    return campaign


def review_decide(*, item: ReviewItem, reviewer: User, decision: str, justification: str, by: Actor) -> ReviewItem:
    """Keep or revoke one item, with a justification; a revocation revokes the grant at once."""
    if not reviewer.has_role(Role.OFFICER):
        raise ValidationError({"reviewer": "Only a governance officer answers access reviews."})
    if item.reviewer_id != reviewer.pk:
        raise ValidationError({"reviewer": f"Item #{item.pk} is for {item.reviewer.username} to answer."})
    if decision not in ReviewItem.Decision.values:
        raise ValidationError({"decision": "Choose keep or revoke."})
    if not justification.strip():
        raise ValidationError({"justification": "Say why: the review's report shows it to auditors."})
    with transaction.atomic():
        return _decide(item, decision, justification.strip(), by)


def review_decide_bulk(
    *, campaign: ReviewCampaign, item_ids: list[int], reviewer: User, decision: str, justification: str, by: Actor
) -> int:
    """The same answer for several items of one review: all of them, or none if any cannot take it."""
    if not item_ids:
        raise ValidationError({"items": "Tick the items to answer."})
    items = list(
        ReviewItem.objects.select_related("campaign", "grant", "reviewer").filter(campaign=campaign, pk__in=item_ids)
    )
    if len(items) != len(set(item_ids)):
        raise ValidationError({"items": "Some ticked items are not in this review."})
    with transaction.atomic():
        for item in items:
            review_decide(item=item, reviewer=reviewer, decision=decision, justification=justification, by=by)
    return len(items)


def _decide(item: ReviewItem, decision: str, justification: str, by: Actor) -> ReviewItem:
    now = timezone.now()
    if item.campaign.status != ReviewCampaign.Status.OPEN or item.campaign.deadline <= now:
        raise ValidationError({"campaign": f"Review #{item.campaign_id} is past its deadline: it takes no answers."})
    grant = Grant.objects.select_related(*_RELATED).get(pk=item.grant_id)
    if decision == ReviewItem.Decision.REVOKE:
        outcome = ReviewItem.Outcome.REVOKED if grant.status in Grant.LIVE else ReviewItem.Outcome.GONE
    else:
        outcome = ReviewItem.Outcome.KEPT
    claimed = ReviewItem.objects.filter(pk=item.pk, decision="", outcome="").update(
        decision=decision, justification=justification, decided_at=now, outcome=outcome
    )
    if not claimed:
        raise ValidationError({"decision": f"Item #{item.pk} was answered already."})
    if outcome == ReviewItem.Outcome.REVOKED:
        grant_services.grant_revoke(grant=grant, by=by, reason=f"Access review #{item.campaign_id}: {justification}")
    record(
        action="review.item_answered",
        actor=by,
        partner=grant.partner.slug,
        target=item,
        reason=justification,
        details={"review": item.campaign_id, "grant": grant.pk, "decision": decision, "outcome": outcome},
    )
    item.refresh_from_db()
    return item


# --- The scheduled run ----------------------------------------------------------------------------------------


@dataclass
class ReviewsRun:
    started: int = 0
    reminded: int = 0
    resolved: int = 0
    closed: int = 0


def reviews_run(*, now: datetime | None = None) -> ReviewsRun:
    """Start the reviews the cadence calls for, remind, and resolve what the deadline leaves unanswered."""
    now = now or timezone.now()
    run = ReviewsRun()
    run.started = _start_due(now)
    for campaign in ReviewCampaign.objects.select_related("charter__partner").filter(
        status=ReviewCampaign.Status.OPEN, reminded_at__isnull=True, deadline__lte=now + REMIND_BEFORE, deadline__gt=now
    ):
        run.reminded += _remind(campaign, now)
    for campaign in ReviewCampaign.objects.select_related("charter__partner").filter(
        status=ReviewCampaign.Status.OPEN, deadline__lte=now
    ):
        for item in ReviewItem.objects.filter(campaign=campaign, outcome="").order_by("pk"):
            run.resolved += _resolve(campaign, item)
        run.closed += _close(campaign, now)
    return run


def _start_due(now: datetime) -> int:
    started = 0
    for charter in Charter.objects.select_related("active_version", "partner").filter(status=Charter.Status.ACTIVE):
        cadence = _terms(charter).get("cadence_days")
        if not isinstance(cadence, int):
            continue
        last = ReviewCampaign.objects.filter(charter=charter).order_by("-created_at").first()
        since = last.created_at if last else (charter.active_version.approved_at if charter.active_version else None)
        if since is None or now - since < timedelta(days=cadence):
            continue
        try:
            review_start(charter=charter, by=REVIEWS, trigger="cadence", now=now)
        except ValidationError:
            continue  # no grant to review, no officer, or a review already open: the next run looks again
        started += 1
    return started


def _remind(campaign: ReviewCampaign, now: datetime) -> int:
    with transaction.atomic():
        claimed = ReviewCampaign.objects.filter(pk=campaign.pk, reminded_at__isnull=True).update(reminded_at=now)
        if not claimed:
            return 0
        waiting = ReviewItem.objects.filter(campaign=campaign, decision="", outcome="").select_related("reviewer")
        for reviewer in {item.reviewer for item in waiting}:
            mail_enqueue(
                key=f"review-{campaign.pk}-reminder-{reviewer.pk}",
                to=[reviewer.email],
                subject=f"[Accord] Reminder: review of {campaign.charter.slug} ends {campaign.deadline:%Y-%m-%d}",
                body=f"Review #{campaign.pk} still has items for you. At {campaign.deadline:%Y-%m-%d %H:%M} UTC "
                f"the unanswered ones are {campaign.unanswered}d.\n",
            )
    return 1


def _resolve(campaign: ReviewCampaign, item: ReviewItem) -> int:
    """One unanswered item at the deadline: revoked or escalated, with its grant, once."""
    try:
        return _resolve_once(campaign, item)
    except ValidationError:
        return 0  # the grant moved under us (expired, revoked): the next run resolves the item as it then stands


def _resolve_once(campaign: ReviewCampaign, item: ReviewItem) -> int:
    with transaction.atomic():
        grant = Grant.objects.select_related(*_RELATED).get(pk=item.grant_id)
        if grant.status not in Grant.LIVE:
            outcome = ReviewItem.Outcome.GONE  # it ended on its own: nothing to revoke or escalate
        elif campaign.unanswered == "escalate":
            outcome = ReviewItem.Outcome.ESCALATED
        else:
            outcome = ReviewItem.Outcome.REVOKED
        if not ReviewItem.objects.filter(pk=item.pk, outcome="").update(outcome=outcome):
            return 0  # another run resolved it
        reason = f"Access review #{campaign.pk} ended with no answer for this grant."
        if outcome == ReviewItem.Outcome.REVOKED:
            grant_services.grant_revoke(grant=grant, by=REVIEWS, reason=reason)
        elif outcome == ReviewItem.Outcome.ESCALATED:
            mail_enqueue(
                key=f"review-item-{item.pk}-escalated",
                to=[officer.email for officer in _officers()],
                subject=f"[Accord] Unanswered in access review #{campaign.pk}: grant #{grant.pk} ({grant.grantee})",
                body=f"{reason} The charter says to escalate: decide on grant #{grant.pk} of {grant.partner.slug}.\n",
            )
        record(
            action="review.item_unanswered",
            actor=REVIEWS,
            partner=grant.partner.slug,
            target=item,
            reason=reason,
            details={"review": campaign.pk, "grant": grant.pk, "outcome": outcome},
        )
    return 1


def _close(campaign: ReviewCampaign, now: datetime) -> int:
    with transaction.atomic():
        if ReviewItem.objects.filter(campaign=campaign, outcome="").exists():
            return 0
        if not ReviewCampaign.objects.filter(pk=campaign.pk, status=ReviewCampaign.Status.OPEN).update(
            status=ReviewCampaign.Status.CLOSED, closed_at=now
        ):
            return 0
        counts = {
            outcome: ReviewItem.objects.filter(campaign=campaign, outcome=outcome).count()
            for outcome in ReviewItem.Outcome.values
        }
        record(
            action="review.closed",
            actor=REVIEWS,
            partner=campaign.charter.partner.slug,
            target=campaign,
            details={"charter": campaign.charter.slug, **counts},
        )
    return 1


def review_report(campaign: ReviewCampaign) -> str:
    """The review as CSV: each item, the grant as it stood, who answered what and why, and what became of it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["review", "charter", "item", "grant", "grantee", "asset", "actions", "purposes", "reviewer",
                     "decision", "justification", "decided_at", "outcome"])  # fmt: skip
    for item in campaign.items.select_related("reviewer").order_by("pk"):
        snapshot = item.snapshot
        writer.writerow([campaign.pk, campaign.charter.slug, item.pk, item.grant_id, snapshot.get("grantee", ""),
                         snapshot.get("fingerprint", ""), " ".join(snapshot.get("actions", [])),
                         " ".join(snapshot.get("purposes", [])), item.reviewer.username, item.decision,
                         item.justification, item.decided_at.isoformat() if item.decided_at else "",
                         item.outcome])  # fmt: skip
    return buffer.getvalue()
