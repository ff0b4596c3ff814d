"""Decisions as the trail records them: the one module that writes a decision event's details and reads them back.

Every decision is an audit Event with action ``decision.allow`` or ``decision.deny``. Its columns say who asked (the
principal, as the actor), for which partner, when, from which address and, for a deny, in which words; its
``details`` hold what was asked and answered. The decision point builds the event with ``decision_event()``;
explain, what-if, the anomaly checks' new-address rule, the review evidence and the usage roll-up read it back
through the queries below or the event's fields, so the keys of ``details`` are spelt here and nowhere else. (The
other anomaly rules count from the roll-up: governance/usage.)

The queries filter on what audit's decision indexes hold (audit/models.py), each among decision events only: the
decision id; the grant with the time; the asking principal and the asset with the time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.fields.json import KT

from accord.validation import is_whole_number
from audit.models import DECISION_ACTIONS, Event
from audit.trail import Actor, event

# What the decision point records; audit's DECISION_ACTIONS, the condition of its decision indexes, names the same two
# (tests/governance/test_decision_records.py holds them equal), and every query below starts from them.
ALLOW = "decision.allow"
DENY = "decision.deny"


@dataclass(frozen=True)
class RecordedDecision:
    """One decision as its event keeps it."""

    event_id: int
    decision_id: str
    allow: bool
    principal: str  # the asking principal's id, as the trail names actors (text)
    principal_label: str  # its name when it asked
    partner: str
    action: str
    asset: str  # the asset version's fingerprint, as asked
    purpose: str
    codes: tuple[str, ...]  # a deny's reason codes (one: see decision_event); none for an allow
    reason: str  # a deny's message, as the answer gave it
    bundle: str  # the hash of the policy bundle it was decided under ("" when none was read)
    grant_id: int | None  # the grant that allowed it, or the one whose quota or rate limit refused it
    client_address: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, recorded: Event) -> RecordedDecision:
        details = recorded.details
        return cls(
            event_id=recorded.pk,
            decision_id=details.get("decision_id", ""),
            allow=recorded.action == ALLOW,
            principal=recorded.actor_id,
            principal_label=recorded.actor_label,
            partner=recorded.partner,
            action=details.get("action", ""),
            asset=details.get("asset", ""),
            purpose=details.get("purpose", ""),
            codes=tuple(details.get("codes", [])),
            reason=recorded.reason,
            bundle=details.get("bundle", ""),
            grant_id=_named_grant(details.get("grant")),
            client_address=recorded.client_address,
            occurred_at=recorded.occurred_at,
        )


def decision_event(
    *,
    actor: Actor,
    partner: str,
    decision_id: str,
    allow: bool,
    action: str,
    asset: str,
    purpose: str,
    codes: Sequence[str],
    reason: str,
    bundle: str,
    grant_id: int | None,
    attestation: Mapping[str, Any] | None = None,
) -> Event:
    """The unsaved event that records a decision (the request context adds the client address). A deny gives one
    reason, so ``codes`` holds one code for a deny and none for an allow."""
    return event(
        action=ALLOW if allow else DENY,
        actor=actor,
        partner=partner,
        outcome=Event.Outcome.SUCCESS if allow else Event.Outcome.DENIED,
        reason="" if allow else reason[:500],
        details=decision_details(
            decision_id=decision_id,
            action=action,
            asset=asset,
            purpose=purpose,
            codes=codes,
            bundle=bundle,
            grant_id=grant_id,
            attestation=attestation,
        ),
    )


def decision_details(
    *,
    decision_id: str,
    action: str,
    asset: str,
    purpose: str,
    codes: Sequence[str],
    bundle: str,
    grant_id: int | None,
    attestation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a decision event's ``details`` hold; the benchmarks that fill a trail without the decision point write
    it too. ``attestation``: how an allow's enclave was attested (its evidence's verifier, digest and measurement, or
    the attested session), when its grant asked."""
    details: dict[str, Any] = {
        "decision_id": decision_id,
        "action": action[:64],
        "asset": asset[:64],
        "purpose": purpose[:64],
        "codes": list(codes),
        "bundle": bundle,
        "grant": grant_id,
    }
    if attestation:
        details["attestation"] = dict(attestation)
    return details


def _named_grant(value: object) -> int | None:
    """The grant a decision names, from its event or from a key read in the database: a number, or text on
    PostgreSQL (``->>``); None when it named none (JSON null, which SQLite may return as "null")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and is_whole_number(value) else None


def _decisions() -> QuerySet[Event]:
    return Event.objects.filter(action__in=DECISION_ACTIONS)


def _between(since: datetime, until: datetime) -> QuerySet[Event]:
    return _decisions().filter(occurred_at__gte=since, occurred_at__lt=until)


# --- Explain ----------------------------------------------------------------------------------------------


def decision_by_id(decision_id: str) -> RecordedDecision | None:
    """The decision with this id (the first recorded, should two share it), or None."""
    # Unordered, and the first picked here: with ORDER BY id LIMIT 1, PostgreSQL walks the primary key through the
    # whole trail rather than use the decision id's index (it cannot tell that an id matches one event).
    matching = _decisions().filter(details__decision_id=decision_id).order_by()
    found = min(matching, key=lambda recorded: recorded.pk, default=None)
    return RecordedDecision.of(found) if found is not None else None


@dataclass(frozen=True)
class Counted:
    """What the usage roll-up counts a decision by (governance/usage): read from an event's action and details."""

    allowed: bool
    grant_id: int | None
    asset: str
    action: str
    code: str  # a deny's one code; "" for an allow

    @classmethod
    def of(cls, action: str, details: Mapping[str, Any] | None) -> Counted:
        details = details or {}
        allowed = action == ALLOW
        return cls(
            allowed=allowed,
            grant_id=_named_grant(details.get("grant")),
            asset=str(details.get("asset", ""))[:64],
            action=str(details.get("action", ""))[:64],
            code="" if allowed else str((details.get("codes") or [""])[0])[:64],
        )


def decisions_by_event(event_ids: Iterable[int]) -> dict[int, RecordedDecision]:
    """The decisions recorded by these events, by event id (an id that is no decision's is left out)."""
    return {found.pk: RecordedDecision.of(found) for found in _decisions().filter(pk__in=list(event_ids))}


# --- The anomaly checks' new-address rule -----------------------------------------------------------------


def _allowed_by(grant_id: int, since: datetime, until: datetime) -> QuerySet[Event]:
    return _between(since, until).filter(action=ALLOW, details__grant=grant_id)


def grant_client_addresses(grant_id: int, *, since: datetime, until: datetime) -> set[str]:
    """The client addresses of the decisions the grant allowed from ``since`` to ``until``."""
    addresses = _allowed_by(grant_id, since, until).order_by().values_list("client_address", flat=True).distinct()
    return {address for address in addresses if address is not None}


def used_grants(*, since: datetime, until: datetime) -> set[int]:
    """The grants that allowed a decision from ``since`` to ``until``, read through the trail's time index (the
    window is minutes: this grows with the recent decisions, not the trail)."""
    named = _between(since, until).filter(action=ALLOW).order_by().values_list("details__grant", flat=True)
    return {int(grant) for grant in named.distinct() if grant is not None}


# --- Review evidence --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UseTally:
    """Decisions grouped by whether they allowed, the grant they name, who asked and the asset."""

    allow: bool
    grant_id: int | None
    principal: str
    asset: str
    recent: int  # how many since the tally's ``since``
    last: datetime  # the newest


def use_tallies(
    *,
    grant_ids: Collection[int],
    principals: Collection[str],
    assets: Collection[str],
    born: datetime,
    since: datetime,
    until: datetime,
) -> list[UseTally]:
    """In one query, before ``until``: the allows that name one of the grants from ``born`` on, and the denies of
    the principals on the assets from ``since`` on, each group counting its decisions since ``since``."""
    rows = (
        _decisions()
        .filter(occurred_at__lt=until)
        .filter(
            Q(action=ALLOW, occurred_at__gte=born, details__grant__in=sorted(grant_ids))
            | Q(
                action=DENY,
                occurred_at__gte=since,
                actor_id__in=sorted(principals),
                details__asset__in=sorted(assets),
            )
        )
        .values("action", "actor_id", grant_key=KT("details__grant"), asset_key=KT("details__asset"))
        .annotate(recent=Count("pk", filter=Q(occurred_at__gte=since)), last=Max("occurred_at"))
        .order_by()
    )
    return [
        UseTally(
            allow=row["action"] == ALLOW,
            grant_id=_named_grant(row["grant_key"]),
            principal=row["actor_id"],
            asset=row["asset_key"] or "",
            recent=row["recent"],
            last=row["last"],
        )
        for row in rows
    ]


# --- What-if ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AskedTally:
    """One request as principals asked it: how many times, and the event of the newest."""

    principal: str
    partner: str
    action: str
    asset: str
    purpose: str
    times: int
    newest: int  # an event id


def trail_id_span(since: datetime, until: datetime) -> tuple[int, int] | None:
    """The lowest and highest id of the trail's events (decisions or not) from ``since`` to ``until``, or None."""
    bounds = Event.objects.filter(occurred_at__gte=since, occurred_at__lt=until).aggregate(
        low=Min("id"), high=Max("id")
    )
    if bounds["low"] is None or bounds["high"] is None:
        return None
    return bounds["low"], bounds["high"]


def asked_tallies(*, since: datetime, until: datetime, ids: range) -> list[AskedTally]:
    """The requests principals asked from ``since`` to ``until`` among the events with ``ids``, grouped in the
    database by principal, partner, action, asset and purpose."""
    rows = (
        _between(since, until)
        .filter(actor_type=Event.ActorType.PRINCIPAL, id__gte=ids.start, id__lt=ids.stop)
        .values("actor_id", "partner", asked=KT("details__action"), on=KT("details__asset"), why=KT("details__purpose"))
        .annotate(times=Count("id"), newest=Max("id"))
        .order_by()
        .values_list("actor_id", "partner", "asked", "on", "why", "times", "newest")
    )
    return [
        AskedTally(principal, partner, action or "", asset or "", purpose or "", times, newest)
        for principal, partner, action, asset, purpose, times, newest in rows
    ]
