"""Four eyes on irreversible acts: one officer proposes, a second confirms, and only then does the act happen.

Ending a charter, rolling the policy back, destroying a key before its grace period ends and resetting another
person's factors cannot be undone, so no one officer does them alone (charter approval already worked this way).
A proposal says who asked, why, and exactly what confirming will do, worked out when it is made; it lapses after
``ACCORD_PROPOSAL_HOURS``. Confirming runs the act as the second officer inside ``audit.context.confirmed``: the
operation table lets a person perform these operations only there (accounts.operations.FOUR_EYES), and every event
the act records names both officers. When the world changed since (the plan a rollback confirmed is no longer the
plan, the charter ended another way), nothing is done and the proposal is marked failed, saying why.

This app is below the ones whose acts are proposed, so each kind is registered by the app that owns the act
(``kind_register``, from its AppConfig.ready): accounts registers factor resets, governance the other three.
Proposals are the host's deliberation: their own events are host-scoped, while the act's events go to the partner
as before, with both names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Proposal, User
from accounts.operations import REFUSALS, Operation, may, performs, person
from accounts.services import actor_for
from audit.context import Confirmation, confirmed
from audit.trail import Actor, record

LAPSE = Actor.system("proposals")


@dataclass(frozen=True)
class Plan:
    """What confirming will do, worked out when proposing; ValidationError from ``plan`` when it cannot be done."""

    target_label: str
    partner: str
    lines: list[str]
    check: str = ""  # a digest the act compares at confirmation, where it has one


@dataclass(frozen=True)
class Done:
    outcome: str  # a sentence: what happened
    url: str = ""  # where to see it


@dataclass(frozen=True)
class ProposalKind:
    kind: Proposal.Kind
    operation: Operation  # who may propose, confirm and withdraw it: whoever the table lets do the act
    plan: Callable[[str, User], Plan]  # (target, proposer)
    carry_out: Callable[[Proposal, Actor], Done]  # runs as the confirming officer
    target_hint: str  # what ``target`` names, for the API's schema and errors


KINDS: dict[str, ProposalKind] = {}


def kind_register(kind: ProposalKind) -> None:
    KINDS[kind.kind] = kind


# Who is told that a proposal waits for a second officer: registered by the app that sends mail (governance's
# outbox, above this one), and called in the proposal's transaction so the mail goes only if it commits.
NOTIFIERS: list[Callable[[Proposal], None]] = []


def notifier_register(notify: Callable[[Proposal], None]) -> None:
    if notify not in NOTIFIERS:
        NOTIFIERS.append(notify)


def kind_get(name: str) -> ProposalKind:
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ValidationError({"kind": f"There is no proposal of kind {name!r}: it is one of {known}."}) from None


def lifetime() -> timedelta:
    return timedelta(hours=settings.ACCORD_PROPOSAL_HOURS)


def _may_act(by: Actor, kind: ProposalKind) -> None:
    if not may(by, kind.operation):
        raise PermissionDenied(REFUSALS[kind.operation])


def _details(proposal: Proposal) -> dict[str, object]:
    return {"kind": proposal.kind, "target": proposal.target, "target_label": proposal.target_label}


@performs(Operation.PROPOSAL)
@transaction.atomic
def proposal_make(
    *, kind: str, target: str, reason: str, by: Actor, expected_check: str = "", now: datetime | None = None
) -> Proposal:
    """Propose an irreversible act; a second officer confirms it. One open proposal per act at a time.

    ``expected_check`` is the plan digest the officer was shown (a rollback's): when the plan has changed since,
    nothing is proposed and they review the new one."""
    now = now or timezone.now()
    spec = kind_get(kind)
    _may_act(by, spec)
    proposer = person(by)
    if not reason.strip():
        raise ValidationError(
            {"reason": "Say why: the second officer reads it before confirming, and the trail keeps it."}
        )
    plan = spec.plan(target, proposer)
    if expected_check and expected_check != plan.check:
        raise ValidationError(
            {"plan": "What this would do changed since you looked. Review the new plan and propose it."}
        )
    _lapse_due(Proposal.objects.filter(kind=spec.kind, target=target), now)
    waiting = Proposal.objects.filter(kind=spec.kind, target=target, status=Proposal.Status.PENDING).first()
    if waiting is not None:
        when = f"{waiting.proposed_at:%Y-%m-%d %H:%M} UTC"
        raise ValidationError(
            {
                "target": f"{waiting.proposed_by.username} already proposed this on {when} (proposal {waiting.pk}): "
                "confirm or withdraw that one."
            }
        )
    proposal = Proposal.objects.create(
        kind=spec.kind,
        target=target,
        target_label=plan.target_label[:300],
        partner=plan.partner,
        reason=reason.strip(),
        plan=plan.lines,
        plan_check=plan.check,
        proposed_by=proposer,
        proposed_at=now,
        expires_at=now + lifetime(),
    )
    record(
        action="proposal.made",
        actor=by,
        target=proposal,
        reason=proposal.reason,
        details={**_details(proposal), "plan": plan.lines, "expires_at": proposal.expires_at},
    )
    for notify in NOTIFIERS:
        notify(proposal)
    return proposal


@performs(Operation.PROPOSAL)
def proposal_confirm(*, proposal: Proposal, by: Actor, now: datetime | None = None) -> Proposal:
    """Carry out the proposal as the second officer: the act it describes, or nothing (and the proposal fails, saying
    why) when that act can no longer be done. The proposer cannot confirm their own."""
    now = now or timezone.now()
    spec = kind_get(proposal.kind)
    _may_act(by, spec)
    confirmer = person(by)
    if _lapse_due(Proposal.objects.filter(pk=proposal.pk), now):
        raise ValidationError(
            {"proposal": f"This proposal lapsed at {proposal.expires_at:%Y-%m-%d %H:%M} UTC: propose it again."}
        )
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().select_related("proposed_by").get(pk=proposal.pk)
        _refuse_unless_pending(proposal)
        if proposal.proposed_by_id == confirmer.pk:
            raise PermissionDenied("You proposed this: a second officer must confirm it.")
        confirmation = Confirmation(
            proposal=proposal.pk,
            kind=proposal.kind,
            proposed_by=actor_for(proposal.proposed_by).label,
            confirmed_by=by.label,
        )
        try:
            with transaction.atomic(), confirmed(confirmation):
                done = spec.carry_out(proposal, by)
        except ValidationError as error:
            proposal.status, proposal.outcome = Proposal.Status.FAILED, " ".join(error.messages)
        else:
            proposal.status = Proposal.Status.CARRIED_OUT
            proposal.outcome, proposal.result_url = done.outcome, done.url
        proposal.decided_by, proposal.decided_at = confirmer, now
        proposal.save(update_fields=["status", "outcome", "result_url", "decided_by", "decided_at"])
        record(
            action="proposal.confirmed" if proposal.status == Proposal.Status.CARRIED_OUT else "proposal.failed",
            actor=by,
            target=proposal,
            reason=proposal.outcome,
            details={**_details(proposal), **confirmation.as_details()},
        )
    return proposal


@performs(Operation.PROPOSAL)
@transaction.atomic
def proposal_withdraw(*, proposal: Proposal, by: Actor, reason: str = "") -> Proposal:
    """Withdraw a proposal: the proposer, or another officer who disagrees, saying why."""
    spec = kind_get(proposal.kind)
    _may_act(by, spec)
    withdrawer = person(by)
    proposal = Proposal.objects.select_for_update().select_related("proposed_by").get(pk=proposal.pk)
    _refuse_unless_pending(proposal)
    if withdrawer.pk != proposal.proposed_by_id and not reason.strip():
        raise ValidationError({"reason": f"Say why you withdraw {proposal.proposed_by.username}'s proposal."})
    proposal.status = Proposal.Status.WITHDRAWN
    proposal.outcome = reason.strip()
    proposal.decided_by, proposal.decided_at = withdrawer, timezone.now()
    proposal.save(update_fields=["status", "outcome", "decided_by", "decided_at"])
    record(action="proposal.withdrawn", actor=by, target=proposal, reason=proposal.outcome, details=_details(proposal))
    return proposal


def _refuse_unless_pending(proposal: Proposal) -> None:
    if proposal.status != Proposal.Status.PENDING:
        state = proposal.get_status_display().lower()
        raise ValidationError({"proposal": f"Proposal {proposal.pk} is {state}: there is nothing left to decide."})


def proposals_lapse(*, now: datetime | None = None) -> int:
    """Mark every open proposal past its time as lapsed (the beat runs this; confirming checks it too)."""
    return _lapse_due(Proposal.objects.all(), now or timezone.now())


def _lapse_due(proposals: QuerySet[Proposal], now: datetime) -> int:
    lapsed = 0
    for proposal in proposals.filter(status=Proposal.Status.PENDING, expires_at__lte=now).order_by("id"):
        with transaction.atomic():
            claimed = Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.PENDING).update(
                status=Proposal.Status.EXPIRED, decided_at=now
            )
            if claimed:
                lapsed += 1
                record(
                    action="proposal.expired",
                    actor=LAPSE,
                    target=proposal,
                    details={**_details(proposal), "proposed_by": proposal.proposed_by.username},
                )
    return lapsed


def proposals_visible_to(user: User) -> QuerySet[Proposal]:
    """The host's staff see every proposal (auditors read them); partners see none: the acts' events reach them."""
    if not user.is_host_member:
        return Proposal.objects.none()
    return Proposal.objects.select_related("proposed_by", "decided_by")


def proposals_waiting_for(user: User, *, now: datetime | None = None) -> QuerySet[Proposal]:
    """Open proposals this person could confirm: someone else's, not yet lapsed."""
    now = now or timezone.now()
    kinds = [name for name, kind in KINDS.items() if may(user, kind.operation)]
    return (
        proposals_visible_to(user)
        .filter(status=Proposal.Status.PENDING, expires_at__gt=now, kind__in=kinds)
        .exclude(proposed_by=user)
    )
