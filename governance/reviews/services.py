"""Access reviews: officers certify, on each charter's cadence or on demand, which grants its partner still needs.

A review snapshots the charter's live grants as items and shares them among the officers. Each item is kept or
revoked with a justification, singly or in bulk; a revocation revokes the grant at once, through the ordinary
audited transition. The answer to the last item closes the review, in its transaction. Two days before the deadline
the reviewers are reminded of what is left. At the deadline every unanswered item is revoked or escalated to the
officers, as the charter's `review.unanswered` says, and the review closes. An officer may close a review sooner,
with a reason: its unanswered items are then resolved as the deadline would resolve them.

Each item comes with the evidence its reviewer needs, read from the decisions in the trail: the grant's last use,
its uses and the denies of its grantee on its asset over the last EVIDENCE_DAYS days.

The scheduled run (every minute) does all of this. Each item is resolved in its own transaction, behind a
compare-and-swap on its outcome, with the grant's revocation in the same transaction: a run that a killed worker
left half-done is finished by the next one, and nothing is revoked or mailed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from accounts.access import active_officers
from accounts.models import User
from accounts.operations import Operation, performs, person
from audit.trail import Actor, record
from charters.models import Charter
from charters.terms import ReviewTerms, terms_of
from charters.vocabulary import Unanswered
from governance.grants import services as grant_services
from governance.models import Grant, ReviewCampaign, ReviewItem
from governance.outbox.services import grant_link, mail_enqueue, page_link
from governance.policy.bundle import GrantFact

REVIEWS = Actor.system("access-reviews")
DEADLINE_DAYS = 14
REMIND_BEFORE = timedelta(days=2)
CLOSE_REASON_MIN = 10  # a sentence, not "ok"
_RELATED = ("partner", "charter", "asset_version__asset", "principal", "partner_role__partner")


def _officers() -> list[User]:
    return list(active_officers().order_by("username"))


def _terms(charter: Charter) -> ReviewTerms:
    if charter.active_version is None:
        raise ValidationError({"charter": f"Charter {charter.slug} has no active version to review grants under."})
    return terms_of(charter.active_version).review


def _reviewer_for(grant: Grant, officers: list[User], number: int) -> User:
    """The officers in turn, skipping the one who approved the grant when another can review it."""
    for offset in range(len(officers)):
        officer = officers[(number + offset) % len(officers)]
        if officer.pk != grant.approved_by_id:
            return officer
    return officers[number % len(officers)]


@performs(Operation.REVIEW_START)
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
                unanswered=terms.unanswered,
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
                    f"{campaign.deadline:%Y-%m-%d %H:%M} UTC. Unanswered ones are then {campaign.unanswered}d.\n\n"
                    f"Open it: {page_link('review-detail', pk=campaign.pk)}\n",
                )
    except IntegrityError:
        raise ValidationError({"charter": f"Charter {charter.slug} already has an open review."}) from None
    return campaign


@performs(Operation.REVIEW_ANSWER)
def review_decide(*, item: ReviewItem, decision: str, justification: str, by: Actor) -> ReviewItem:
    """Keep or revoke one item, with a justification; a revocation revokes the grant at once."""
    reviewer = person(by)
    if item.reviewer_id != reviewer.pk:
        raise ValidationError({"reviewer": f"Item #{item.pk} is for {item.reviewer.username} to answer."})
    if decision not in ReviewItem.Decision.values:
        raise ValidationError({"decision": "Choose keep or revoke."})
    if not justification.strip():
        raise ValidationError({"justification": "Say why: the review's report shows it to auditors."})
    with transaction.atomic():
        return _decide(item, decision, justification.strip(), by)


@performs(Operation.REVIEW_ANSWER)
def review_decide_bulk(
    *, campaign: ReviewCampaign, item_ids: list[int], decision: str, justification: str, by: Actor
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
            review_decide(item=item, decision=decision, justification=justification, by=by)
    return len(items)


def _locked(campaign_id: int) -> ReviewCampaign:
    """The review, locked until the transaction ends: answers and closing take turns, so whoever answers the last
    item sees every other answer (and closes the review), and nobody answers a review being closed."""
    return ReviewCampaign.objects.select_for_update(of=("self",)).select_related("charter__partner").get(pk=campaign_id)


def _refuse_unless_open(campaign: ReviewCampaign, now: datetime) -> None:
    if campaign.status == ReviewCampaign.Status.CLOSED:
        raise ValidationError(
            {
                "campaign": f"Review #{campaign.pk} is closed: it takes no more answers. To reconsider a grant, start "
                f"a new review of {campaign.charter.slug} from the reviews page."
            }
        )
    if campaign.deadline <= now:
        raise ValidationError(
            {
                "campaign": f"Review #{campaign.pk} is past its deadline: it takes no more answers. The scheduled run "
                "resolves what is left within a minute, as the charter says."
            }
        )


def _decide(item: ReviewItem, decision: str, justification: str, by: Actor) -> ReviewItem:
    now = timezone.now()
    campaign = _locked(item.campaign_id)
    _refuse_unless_open(campaign, now)
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
    if not ReviewItem.objects.filter(campaign=campaign, outcome="").exists():
        _close(campaign, now, by=by, ended="answered")
    item.refresh_from_db()
    return item


@performs(Operation.REVIEW_CLOSE)
def review_close(*, campaign: ReviewCampaign, reason: str, by: Actor, now: datetime | None = None) -> ReviewCampaign:
    """Close a review before every item is answered, with the officer's reason. The unanswered items are resolved
    as the deadline would resolve them: revoked or escalated, as the charter's `review.unanswered` says, each
    recorded as unanswered. All of it, or nothing."""
    now = now or timezone.now()
    reason = reason.strip()
    if len(reason) < CLOSE_REASON_MIN:
        raise ValidationError(
            {"reason": "Say in a sentence why you close the review now: its page and the trail show it to auditors."}
        )
    with transaction.atomic():
        locked = _locked(campaign.pk)
        if locked.status == ReviewCampaign.Status.CLOSED:
            raise ValidationError(
                {
                    "campaign": f"Review #{locked.pk} was already closed by {locked.closed_by or 'the scheduled run'}"
                    f" at {locked.closed_at:%Y-%m-%d %H:%M} UTC: there is nothing left to close."
                }
            )
        unanswered = f"Access review #{locked.pk} was closed by {by.label} with no answer for this grant: {reason}"
        for item in ReviewItem.objects.filter(campaign=locked, outcome="").order_by("pk"):
            _resolve_once(locked, item, by=by, reason=unanswered)
        _close(locked, now, by=by, ended="closed_early", reason=reason)
    campaign.refresh_from_db()
    return campaign


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
    # Every open review with nothing left to resolve: those the deadline just finished, and any answered in full
    # that stayed open (reviews answered before the last answer closed them).
    waiting = ReviewItem.objects.filter(campaign=OuterRef("pk"), outcome="")
    for campaign in ReviewCampaign.objects.select_related("charter__partner").filter(
        ~Exists(waiting), status=ReviewCampaign.Status.OPEN
    ):
        ended = "deadline" if campaign.deadline <= now else "answered"
        run.closed += _close(campaign, now, by=REVIEWS, ended=ended)
    return run


def _start_due(now: datetime) -> int:
    started = 0
    for charter in Charter.objects.select_related("active_version", "partner").filter(status=Charter.Status.ACTIVE):
        cadence = _terms(charter).cadence_days
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
                f"the unanswered ones are {campaign.unanswered}d.\n\n"
                f"Open it: {page_link('review-detail', pk=campaign.pk)}\n",
            )
    return 1


def _resolve(campaign: ReviewCampaign, item: ReviewItem) -> int:
    """One unanswered item at the deadline: revoked or escalated, with its grant, once."""
    reason = f"Access review #{campaign.pk} ended with no answer for this grant."
    try:
        return _resolve_once(campaign, item, by=REVIEWS, reason=reason)
    except ValidationError:
        return 0  # the grant moved under us (expired, revoked): the next run resolves the item as it then stands


def _resolve_once(campaign: ReviewCampaign, item: ReviewItem, *, by: Actor, reason: str) -> int:
    """One unanswered item resolved as the charter says, with its grant, in one transaction; 0 when another run
    (or an officer's close) resolved it first."""
    with transaction.atomic():
        grant = Grant.objects.select_related(*_RELATED).get(pk=item.grant_id)
        if grant.status not in Grant.LIVE:
            outcome = ReviewItem.Outcome.GONE  # it ended on its own: nothing to revoke or escalate
        elif campaign.unanswered == Unanswered.ESCALATE:
            outcome = ReviewItem.Outcome.ESCALATED
        else:
            outcome = ReviewItem.Outcome.REVOKED
        if not ReviewItem.objects.filter(pk=item.pk, outcome="").update(outcome=outcome):
            return 0  # another run resolved it
        if outcome == ReviewItem.Outcome.REVOKED:
            grant_services.grant_revoke(grant=grant, by=by, reason=reason)
        elif outcome == ReviewItem.Outcome.ESCALATED:
            mail_enqueue(
                key=f"review-item-{item.pk}-escalated",
                to=[officer.email for officer in _officers()],
                subject=f"[Accord] Unanswered in access review #{campaign.pk}: grant #{grant.pk} ({grant.grantee})",
                body=f"{reason} The charter says to escalate: decide on grant #{grant.pk} of {grant.partner.slug}.\n\n"
                f"Open it: {grant_link(grant.pk)}\n",
            )
        record(
            action="review.item_unanswered",
            actor=by,
            partner=grant.partner.slug,
            target=item,
            reason=reason,
            details={"review": campaign.pk, "grant": grant.pk, "outcome": outcome},
        )
    return 1


def _close(campaign: ReviewCampaign, now: datetime, *, by: Actor, ended: str, reason: str = "") -> int:
    """Close a review with nothing left unresolved, once; ``ended`` says how: ``answered`` (its last item was
    answered), ``deadline`` or ``closed_early`` (by an officer, with ``reason``). 1 when this call closed it."""
    with transaction.atomic():
        if ReviewItem.objects.filter(campaign=campaign, outcome="").exists():
            return 0
        # Another run, or the answer to the last item, may have closed it first.
        if not ReviewCampaign.objects.filter(pk=campaign.pk, status=ReviewCampaign.Status.OPEN).update(
            status=ReviewCampaign.Status.CLOSED, closed_at=now, closed_by=by.label, close_reason=reason
        ):
            return 0
        counts = dict(
            ReviewItem.objects.filter(campaign=campaign).values_list("outcome").annotate(count=Count("pk")).order_by()
        )
        record(
            action="review.closed",
            actor=by,
            partner=campaign.charter.partner.slug,
            target=campaign,
            reason=reason,
            details={
                "charter": campaign.charter.slug,
                "ended": ended,
                **{outcome: counts.get(outcome, 0) for outcome in ReviewItem.Outcome.values},
            },
        )
    return 1
