"""The decision point: may principal S do action A on asset version R for purpose P?

The process's policy snapshot (governance.policy.live) finds the principal's grants for the asset and answers as
Casbin's Enforcer would over the compiled bundle; the guardrails around it (validity window, charter state,
acceptance, session, attestation, quota and rate limit) say why not, in the words of the deny codes. Every
decision is written to the trail before it is answered. Any dependency that fails turns into a deny with
``dependency_unavailable``: never an error, never an allow.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import actor_for
from audit.models import Event
from audit.trail import record, record_standalone
from charters.models import Charter
from charters.services.policy_feed import Head
from governance.anomalies.selectors import suspending_finding
from governance.attestation import nonces, requirements
from governance.attestation.evidence import AttestationReplayedError, Verified
from governance.attestation.requirements import Presented, Refusal, Requirement, grant_policy
from governance.attestation.verifiers import nonce_spend
from governance.decisions import limits
from governance.decisions.records import decision_event
from governance.decisions.sessions import SessionFact, ending_message, session_digest, session_fact
from governance.models import DecisionSession, Grant
from governance.policy import live
from governance.policy.bundle import CharterFact, GrantFact, principal_subject
from governance.policy.snapshot import Ended, Snapshot

logger = logging.getLogger(__name__)

MESSAGES = {
    "no_grant": "No grant lets you use this asset. A partner admin can request one.",
    "not_yet_valid": "The grant is not valid yet.",
    "grant_expired": "The grant has expired. A partner admin can request a new one.",
    "grant_suspended": "The grant is suspended by an officer.",  # or by the anomaly checks: see _suspended()
    "action_not_permitted": "The grant or its charter does not permit this action on this asset.",
    "purpose_not_permitted": "The grant or its charter does not permit this purpose for this action.",
    "charter_suspended": "The charter this grant stands on is suspended.",
    "charter_terminated": "The charter this grant stands on has ended.",
    "charter_not_acknowledged": "The charter's current terms have not been accepted by your partner admin yet.",
    "incident_hold": "The grant is held while an incident is investigated.",
    "quota_exhausted": "The grant's daily or monthly quota is used up.",
    "rate_limited": "Too many requests this minute for this grant; slow down.",
    "session_required": "This grant needs a live session: open one with POST /api/v1/sessions.",
    "attestation_required": "This grant needs an attested enclave: give context.attestation or an attested session.",
    "attestation_invalid": "The attestation evidence is not valid: its signature, issuer, chain or format failed.",
    "attestation_expired": "The attestation evidence is too old or not valid yet: attest again.",
    "attestation_replayed": "The attestation's nonce is unknown, expired or used: attest again with a fresh one.",
    "attestation_claims_unmet": "The attestation does not show what the charter asks of the enclave.",
    "attestation_measurement_removed": "The enclave's measurement was removed from its allow-list: it may no longer "
    "be used, and presenting it again is reported as misuse.",
    "invalid_request": "The request is not valid.",
    "dependency_unavailable": "Accord could not reach a service it needs; the request is denied. Try again shortly.",
}

# How far a grant got before it failed: the furthest one explains the deny best.
PROGRESS = [
    "no_grant",
    "charter_terminated",
    "charter_suspended",
    "grant_expired",
    "grant_suspended",
    "incident_hold",
    "not_yet_valid",
    "action_not_permitted",
    "purpose_not_permitted",
    "charter_not_acknowledged",
    *requirements.CODES,
    "session_required",
    "quota_exhausted",
    "rate_limited",
]


@dataclass(frozen=True)
class DecisionRequest:
    action: str
    asset: str
    purpose: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    decision_id: str
    allow: bool
    reasons: list[dict[str, str]]
    obligations: list[dict[str, Any]]
    bundle: str
    grant_id: int | None = None
    # How an allow's enclave was attested, for its event: the evidence's verifier, digest and measurement, or the
    # attested session it came with.
    attestation: dict[str, Any] | None = None
    # The attested enclave's public key (a JWK), when its evidence carried one: what a released key is wrapped to.
    # Never answered, never recorded.
    enclave_key: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "allow": self.allow,
            "reasons": self.reasons,
            "obligations": self.obligations,
            "bundle": self.bundle,
        }


def deny(code: str, bundle: str = "", message: str | None = None) -> Decision:
    return Decision(
        decision_id=uuid.uuid4().hex,
        allow=False,
        reasons=[{"code": code, "message": message or MESSAGES[code]}],
        obligations=[],
        bundle=bundle,
    )


def _session_for(
    grant: GrantFact, principal_id: int, request: DecisionRequest, now: datetime, attesting: Attesting
) -> SessionFact | None:
    """The session the request names, when it is one of this principal's for this grant, action and purpose and
    has not expired (it may have ended early: see _session_end)."""
    fact = attesting.session
    if (
        fact is None
        or fact.grant_id != grant.pk
        or fact.principal_id != principal_id
        or fact.action != request.action
        or fact.purpose != request.purpose
        or fact.expires_at <= now
    ):
        return None
    return fact


def _session_end(fact: SessionFact, attesting: Attesting) -> tuple[str, datetime | None] | None:
    """Why and when the session ended early: as its row said when this process read it, or as the policy feed
    announced since (which every process has applied by its next decision)."""
    if fact.ended_at is not None:
        return fact.end_reason, fact.ended_at
    ended = attesting.ended.get(fact.pk)
    return (ended.reason, ended.at) if ended is not None else None


def _session_refusal(
    grant: GrantFact, principal_id: int, request: DecisionRequest, now: datetime, attesting: Attesting
) -> str | None:
    """Why a grant that requires a session is not used within a live one, or None."""
    fact = _session_for(grant, principal_id, request, now, attesting)
    if fact is None:
        return "session_required"
    ended = _session_end(fact, attesting)
    if ended is not None:
        attesting.refusals[grant.pk] = f"{ending_message(*ended)} Open a new session."
        return "session_required"
    return None


def _attested_session(
    grant: GrantFact,
    requirement: Requirement,
    principal_id: int,
    request: DecisionRequest,
    now: datetime,
    attesting: Attesting,
) -> SessionFact | Refusal:
    """The live attested session the request names for this grant, still meeting the requirement (a verifier it
    accepts and, when it asks for measurements, attested on an entry of one of its lists); otherwise why not.
    Reads nothing once this process has seen the session."""
    fact = _session_for(grant, principal_id, request, now, attesting)
    if fact is None or not fact.attested:
        message = (
            "The session given is not a live attested session for this grant, action and purpose: it has expired "
            "or was not attested. Attest again."
        )
        return Refusal(requirements.REQUIRED, message)
    ended = _session_end(fact, attesting)
    if ended is not None:
        reason, at = ended
        if reason == requirements.MEASUREMENT_REMOVED_REASON:
            removed = requirements.MEASUREMENT_REMOVED
            return Refusal(removed, f"{ending_message(reason, at)} {MESSAGES[removed]}")
        return Refusal(requirements.REQUIRED, f"{ending_message(reason, at)} Attest again.")
    if fact.verifier not in requirement.verifiers or (
        requirement.measurements and fact.allow_list not in requirement.measurements
    ):
        message = (
            "The session was attested on terms the charter no longer accepts (another verifier or allow-list): "
            "attest again."
        )
        return Refusal(requirements.REQUIRED, message)
    return fact


@dataclass
class Attesting:
    """One request's attestation across the grants it is evaluated against: the evidence it carries (checked once),
    why each grant's attestation refused it, and how each grant that passed was attested."""

    evidence: Presented | None = None
    session: SessionFact | None = None  # the session the request names, as this process knows it
    ended: dict[int, Ended] = field(default_factory=dict)  # the sessions the snapshot knows ended early
    refusals: dict[int, str] = field(default_factory=dict)  # grant pk: the message of its deny code
    fresh: set[int] = field(default_factory=set)  # grants that passed on the evidence (its nonces to spend)
    sessions: dict[int, SessionFact] = field(default_factory=dict)  # grants that passed on an attested session


def attesting_for(request: DecisionRequest, now: datetime) -> Attesting:
    """What the request shows of itself before it meets the policy (outside the snapshot's lock): its evidence,
    verified, and the session it names."""
    return Attesting(
        evidence=requirements.presented(request.context, now), session=session_fact(request.context.get("session"))
    )


def _attestation_refusal(
    grant: GrantFact,
    charter: CharterFact,
    principal_id: int,
    request: DecisionRequest,
    now: datetime,
    attesting: Attesting,
    *,
    check_session: bool,
) -> str | None:
    """Whether the grant's use needs an attested enclave and the request shows one: by an attested session, or by
    fresh evidence meeting the charter's terms and the grant's own policy."""
    requirement = charter.terms.attestation(grant.kind, request.action)
    if requirement is None and not grant.requires_attestation:
        return None
    if check_session and requirement is not None and request.context.get("session"):
        session = _attested_session(grant, requirement, principal_id, request, now, attesting)
        if isinstance(session, SessionFact):
            attesting.sessions[grant.pk] = session
            return None
        if attesting.evidence is None:
            attesting.refusals[grant.pk] = session.message
            return session.code
    refused = requirements.refusal(
        requirement, grant_policy(grant.attestation_policy), attesting.evidence, request.action
    )
    if refused is not None:
        attesting.refusals[grant.pk] = refused.message
        return refused.code
    attesting.fresh.add(grant.pk)
    return None


def _why_not(
    grant: GrantFact,
    charter: CharterFact,
    principal_id: int,
    request: DecisionRequest,
    now: datetime,
    attesting: Attesting,
    *,
    check_session: bool,
) -> str | None:
    """The first guardrail this grant fails for the request, or None when it would allow it."""
    return _standing_refusal(grant, charter, now) or _use_refusal(
        grant, charter, principal_id, request, now, attesting, check_session=check_session
    )


def _standing_refusal(grant: GrantFact, charter: CharterFact, now: datetime) -> str | None:
    """Why the grant cannot be used at all at ``now``, whatever is asked: its state, its charter's, its window."""
    if grant.status in (Grant.Status.REQUESTED, Grant.Status.REFUSED, Grant.Status.REVOKED):
        return "no_grant"
    if charter.status in (Charter.Status.TERMINATED, Charter.Status.EXPIRED):
        return "charter_terminated"
    if charter.status == Charter.Status.SUSPENDED:
        return "charter_suspended"
    if charter.status != Charter.Status.ACTIVE:
        return "no_grant"
    if grant.status == Grant.Status.EXPIRED:
        return "grant_expired"
    if grant.status == Grant.Status.SUSPENDED:
        return "grant_suspended"
    if grant.held:
        return "incident_hold"
    if now < grant.valid_from:
        return "not_yet_valid"
    if now >= grant.valid_until:
        return "grant_expired"
    return None


def _use_refusal(
    grant: GrantFact,
    charter: CharterFact,
    principal_id: int,
    request: DecisionRequest,
    now: datetime,
    attesting: Attesting,
    *,
    check_session: bool,
) -> str | None:
    """Why a grant that stands does not cover this use: the action, the purpose, the accepted terms, or what the
    grant requires of the caller."""
    kind, fingerprint, terms = grant.kind, grant.fingerprint, charter.terms
    if request.action not in grant.actions or request.action not in terms.active.get(kind, {}):
        return "action_not_permitted"
    if request.purpose not in grant.purposes or not terms.permits_now(
        kind, fingerprint, request.action, request.purpose
    ):
        return "purpose_not_permitted"
    if not terms.permitted_when_accepted(kind, fingerprint, request.action, request.purpose):
        return "charter_not_acknowledged"
    refused = _attestation_refusal(grant, charter, principal_id, request, now, attesting, check_session=check_session)
    if refused:
        return refused
    if grant.pk in attesting.sessions:
        return None  # an attested session is a live session for the same grant, action and purpose
    if check_session and grant.requires_session:
        return _session_refusal(grant, principal_id, request, now, attesting)
    return None


@dataclass
class Evaluation:
    code: str | None
    grant: GrantFact | None
    bundle: str
    charter: CharterFact | None = None
    denied_by: GrantFact | None = None  # on a deny: the grant whose guardrail gave its code, when one did
    message: str | None = None  # on a deny: what failed, when the code's own message says too little


@dataclass(frozen=True)
class Allowed:
    """An evaluation that found an allowing grant, waiting for its use to be counted."""

    grant: GrantFact
    charter: CharterFact
    bundle: str
    attestation: dict[str, Any] | None = None  # how the enclave was attested (the event's details)
    enclave_key: dict[str, Any] | None = None  # the attested enclave's public key, when its evidence carried one


def _overriding(
    grants: Iterable[GrantFact],
    charters: dict[int, CharterFact],
    principal_id: int,
    request: DecisionRequest,
    now: datetime,
    attesting: Attesting,
) -> tuple[str, GrantFact | None]:
    """The principal's grant whose deny line overrides an allow for the same use (suspended or held), and its
    code; ``no_grant`` when there is none (the reference and the guardrails disagree)."""
    for other in grants:
        if other.charter_id in charters:
            code = _why_not(
                other, charters[other.charter_id], principal_id, request, now, attesting, check_session=False
            )
            if code in ("grant_suspended", "incident_hold"):
                return code, other
    return "no_grant", None


def evaluate(
    principal_id: int,
    request: DecisionRequest,
    snapshot: Snapshot,
    now: datetime,
    *,
    check_session: bool = True,
    attesting: Attesting | None = None,
) -> Evaluation:
    """The policy's answer without counting any use: the allowing grant, or the best deny code. ``attesting`` holds
    the request's evidence, checked beforehand (attesting_for); without it, the request is taken to carry none."""
    attesting = attesting if attesting is not None else Attesting()
    with snapshot.lock:
        attesting.ended = snapshot.ended
        # An unknown fingerprint and a known one without a grant answer alike, so fingerprints cannot be
        # enumerated.
        grants = snapshot.candidates(principal_id, request.asset)
        bundle, charters = snapshot.bundle_hash, snapshot.charters
        best, denied_by = "no_grant", None
        for grant in grants:
            charter = charters.get(grant.charter_id)
            if charter is None:
                continue
            code = _why_not(grant, charter, principal_id, request, now, attesting, check_session=check_session)
            failed: GrantFact | None = grant
            if code is None:
                allowed = snapshot.index.enforce(
                    principal_subject(principal_id), charter.slug, request.asset, request.action, request.purpose
                )
                if allowed:
                    return Evaluation(None, grant, bundle, charter)
                # The reference says no although this grant passes every guardrail: a deny line won (another
                # grant of the principal for the same use is suspended or held), or the two disagree. Either
                # way: deny.
                code, failed = _overriding(grants, charters, principal_id, request, now, attesting)
            if PROGRESS.index(code) > PROGRESS.index(best):
                best, denied_by = code, failed
        message = attesting.refusals.get(denied_by.pk) if denied_by is not None else None
        return Evaluation(best, None, bundle, denied_by=denied_by, message=message)


def _answer(evaluation: Allowed, request: DecisionRequest, refused: str | None) -> Decision:
    """The decision for a request a grant allows, once its use is counted (``refused``: the limit it hit)."""
    grant = evaluation.grant
    if refused:
        decision = deny(refused, evaluation.bundle)
        decision.grant_id = grant.pk
        return decision
    return Decision(
        decision_id=uuid.uuid4().hex,
        allow=True,
        reasons=[],
        obligations=[
            {"code": obligation["code"], "params": obligation.get("params", {})}
            for obligation in evaluation.charter.terms.obligations(grant.kind, request.action)
        ],
        bundle=evaluation.bundle,
        grant_id=grant.pk,
        attestation=evaluation.attestation,
        enclave_key=evaluation.enclave_key,
    )


def _suspended(grant: GrantFact) -> str:
    """Who suspended the grant, in the deny: the anomaly checks (read from the trail, on this deny only: the allow
    path reads nothing) or an officer."""
    try:
        finding = suspending_finding(grant.pk)
    except DatabaseError as error:
        logger.warning("Could not read who suspended grant #%s: %s", grant.pk, error)
        return "The grant is suspended; an officer can resume it."
    if finding is None:
        return MESSAGES["grant_suspended"]
    return (
        f"The grant was suspended automatically after anomaly finding #{finding.pk} ({finding.name}) at "
        f"{finding.created_at:%Y-%m-%d %H:%M} UTC; an officer can resume it."
    )


def _denied(evaluation: Evaluation) -> Decision:
    code = evaluation.code or "no_grant"
    if code == "grant_suspended" and evaluation.denied_by is not None:
        return deny(code, evaluation.bundle, _suspended(evaluation.denied_by))
    return deny(code, evaluation.bundle, evaluation.message)


@dataclass(frozen=True)
class Attested:
    """How the allowing grant's enclave was attested: for the decision's event, and the enclave's public key."""

    details: dict[str, Any]
    enclave_key: dict[str, Any] | None


def _attested(principal: User, evaluation: Evaluation, attesting: Attesting, now: datetime) -> Attested | None:
    """How the allowing grant's enclave was attested, once the fresh evidence's nonces are spent (raising
    AttestationReplayedError or NonceStoreUnavailableError when they cannot be); None when it needed none."""
    grant = evaluation.grant
    if grant is None:
        return None
    session = attesting.sessions.get(grant.pk)
    if session is not None:
        return Attested({"session": session.pk}, session.enclave_key)
    if grant.pk not in attesting.fresh or attesting.evidence is None:
        return None
    for nonce in attesting.evidence.nonces:
        nonce_spend(principal, nonce, now)
    cpu = attesting.evidence.cpu
    key = dict(cpu.enclave_key) if isinstance(cpu, Verified) and cpu.enclave_key else None
    return Attested(attestation_details(attesting.evidence), key)


def attestation_details(evidence: Presented) -> dict[str, Any]:
    """What the trail keeps of verified evidence: who vouched, the evidence's digest, what it measured."""
    details: dict[str, Any] = {}
    for name, verified in (("cpu", evidence.cpu), ("gpu", evidence.gpu)):
        if verified is not None and not isinstance(verified, Exception):
            details[name] = {
                "verifier": verified.verifier.name,
                "evidence": verified.digest,
                **({"measurement": verified.measurement.as_json()} if verified.measurement else {}),
            }
    return details


def _failed_closed(error: Exception) -> Decision:
    if isinstance(error, DatabaseError | OSError | limits.LimitsUnavailableError | nonces.NonceStoreUnavailableError):
        logger.warning("Decision failed closed: %s", error)
    else:
        # The policy failed to load or evaluate: deny, and keep the traceback for the operators.
        logger.error("Decision failed closed on an unexpected error", exc_info=error)
    return deny("dependency_unavailable")


def _decide_all(
    principal: User, items: list[DecisionRequest | str], snapshot: Snapshot | None, now: datetime
) -> list[Decision]:
    """Evaluate every item on the snapshot, then count the uses of the allowed ones in one round trip to Redis."""
    bundle = snapshot.bundle_hash if snapshot is not None else ""
    decided: list[Decision | None] = []
    allowing: list[tuple[int, Allowed, DecisionRequest]] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            decided.append(deny("invalid_request", bundle, item))
            continue
        if snapshot is None:
            decided.append(deny("dependency_unavailable"))
            continue
        try:
            attesting = attesting_for(item, now)  # the evidence's signature checked outside the snapshot's lock
            evaluation = evaluate(principal.pk, item, snapshot, now, attesting=attesting)
            attested = _attested(principal, evaluation, attesting, now)
        except AttestationReplayedError as replayed:
            decided.append(deny(replayed.code, bundle, str(replayed)))
            continue
        except Exception as error:
            decided.append(_failed_closed(error))
            continue
        if evaluation.grant is None or evaluation.charter is None:
            decided.append(_denied(evaluation))
        else:
            decided.append(None)
            allowed = Allowed(
                evaluation.grant,
                evaluation.charter,
                evaluation.bundle,
                attested.details if attested else None,
                attested.enclave_key if attested else None,
            )
            allowing.append((position, allowed, item))
    if allowing:
        try:
            refusals = limits.consume_many([allowed.grant for _, allowed, _ in allowing], now)
        except Exception as error:
            _failed_closed(error)
            refusals = ["dependency_unavailable"] * len(allowing)
        for (position, allowed, item), refused in zip(allowing, refusals, strict=True):
            decided[position] = _answer(allowed, item, refused)
    return [decision or deny("dependency_unavailable") for decision in decided]


def _event(principal: User, request: DecisionRequest | str, decision: Decision) -> Event:
    asked = request if isinstance(request, DecisionRequest) else DecisionRequest(action="", asset="", purpose="")
    return decision_event(
        actor=actor_for(principal),
        partner=principal.partner_slug,
        decision_id=decision.decision_id,
        allow=decision.allow,
        action=asked.action,
        asset=asked.asset,
        purpose=asked.purpose,
        codes=[reason["code"] for reason in decision.reasons],
        reason="" if decision.allow else decision.reasons[0]["message"],
        bundle=decision.bundle,
        grant_id=decision.grant_id,
        attestation=decision.attestation,
    )


def _recorded(principal: User, items: list[DecisionRequest | str], decided: list[Decision]) -> list[Decision]:
    """The decisions once their events are committed; denies when they cannot be written."""
    try:
        record_standalone([_event(principal, item, decision) for item, decision in zip(items, decided, strict=True)])
    except DatabaseError:
        # Nothing can be recorded while the database is down; the answer is then a deny, so nothing is allowed
        # that the trail does not show.
        logger.exception("Could not record %d decisions", len(decided))
        return [deny("dependency_unavailable", decision.bundle) if decision.allow else decision for decision in decided]
    return decided


def _current(head: Head | None) -> Snapshot | None:
    try:
        return live.current(head)
    except Exception as error:
        _failed_closed(error)
        return None


def decide(
    principal: User,
    request: DecisionRequest,
    *,
    snapshot: Snapshot | None = None,
    now: datetime | None = None,
    head: Head | None = None,
) -> Decision:
    """Decide and record one request. Never raises for a failing dependency: it denies instead.

    ``head`` is the policy feed's head when the caller has read it already (the decision endpoints read it with
    the token); otherwise it is read here.
    """
    return decide_batch(principal, [request], snapshot=snapshot, now=now, head=head)[0]


def decide_batch(
    principal: User,
    items: list[DecisionRequest | str],
    *,
    snapshot: Snapshot | None = None,
    now: datetime | None = None,
    head: Head | None = None,
) -> list[Decision]:
    """Decide each item in order under one version check, and record them all in one statement; an item given
    as a string is invalid, and says why."""
    now = now or timezone.now()
    decided = _decide_all(principal, items, snapshot or _current(head), now)
    return _recorded(principal, items, decided)


# --- Sessions --------------------------------------------------------------------------------------------


@dataclass
class OpenedSession:
    token: str
    expires_at: datetime
    attested: bool = False


@dataclass(frozen=True)
class SessionRefused:
    code: str
    message: str


def session_open(
    principal: User, request: DecisionRequest, *, now: datetime | None = None
) -> OpenedSession | SessionRefused:
    """Open a time-limited session for a grant that requires one, or whose use needs an attested enclave: then the
    request's ``context.attestation`` is verified, its nonce spent, and the session is attested, lasting as long as
    the charter says (never past the grant's end). Why not otherwise (``session_not_needed`` when the grant needs
    no session)."""
    now = now or timezone.now()
    attesting = attesting_for(request, now)
    evaluation = evaluate(principal.pk, request, live.current(), now, check_session=False, attesting=attesting)
    grant, charter = evaluation.grant, evaluation.charter
    if grant is None or charter is None:
        code = evaluation.code or "no_grant"
        return SessionRefused(code, evaluation.message or MESSAGES[code])
    requirement = charter.terms.attestation(grant.kind, request.action)
    attested = grant.pk in attesting.fresh and attesting.evidence is not None
    if not grant.requires_session and not attested:
        return SessionRefused("session_not_needed", "Your grant for this does not require a session.")
    try:
        spent = _attested(principal, evaluation, attesting, now) if attested else None
    except AttestationReplayedError as replayed:
        return SessionRefused(replayed.code, str(replayed))
    lifetime = timedelta(seconds=settings.ACCORD_DECISION_SESSION_SECONDS)
    if attested and requirement is not None:
        lifetime = timedelta(minutes=requirement.session_minutes)
    expires_at = min(now + lifetime, grant.valid_until)
    token = "ses_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        session = DecisionSession.objects.create(
            grant_id=grant.pk,
            principal=principal,
            digest=session_digest(token),
            action=request.action,
            purpose=request.purpose,
            created_at=now,
            expires_at=expires_at,
            **(_attested_fields(attesting.evidence, requirement) if attested and attesting.evidence else {}),
        )
        record(
            action="session.opened",
            actor=actor_for(principal),
            partner=principal.partner_slug,
            target=session,
            details={
                "grant": grant.pk,
                "action": request.action,
                "purpose": request.purpose,
                "expires_at": expires_at,
                **({"attestation": spent.details} if spent else {}),
            },
        )
    return OpenedSession(token=token, expires_at=expires_at, attested=attested)


def _attested_fields(evidence: Presented, requirement: Requirement | None) -> dict[str, Any]:
    """What an attested session keeps of the evidence that opened it."""
    cpu = evidence.cpu
    if cpu is None or isinstance(cpu, Exception):
        return {}
    entry = evidence.entry_on(requirement.measurements) if requirement and requirement.measurements else None
    return {
        "verifier": cpu.verifier.name,
        "evidence_digest": cpu.digest,
        "measurement": cpu.measurement.as_json() if cpu.measurement else None,
        "measurement_entry": entry,
        "enclave_key": dict(cpu.enclave_key) if cpu.enclave_key else None,
    }
