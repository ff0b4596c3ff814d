"""Decision sessions as decisions see them: read once per process, ended through the policy feed.

A session's row never changes except to end it, so each process keeps what it read of a session (``SessionFact``)
and a decision that names it reads nothing. Ending sessions early (their grant suspended, held or revoked, their
enclave's measurement removed from its allow-list) marks the rows and appends a ``sessions`` change to the policy
feed in the same transaction: every process's snapshot applies it at its next decision's version check, or sooner
from the channel, and from then on denies them, whatever it had kept.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.trail import Actor, record
from charters.services.policy_feed import Kind, policy_changed
from governance.models import DecisionSession

# How many sessions a process keeps in memory; the oldest read are forgotten first (and read again when named).
KEPT = 20_000

# Why a session ended early: the deny code a decision that names it answers, and what it says.
ENDINGS = {
    "grant_suspended": "its grant was suspended",
    "incident_hold": "its grant was held for an incident",
    "grant_revoked": "its grant was revoked",
    "measurement_removed": "its enclave's measurement was removed from the allow-list",
}


@dataclass(frozen=True)
class SessionFact:
    """What a decision needs of a session, as its row said when this process read it."""

    pk: int
    grant_id: int
    principal_id: int
    action: str
    purpose: str
    expires_at: datetime
    verifier: str
    allow_list: str  # the allow-list of the measurement entry it was attested on ("" when none)
    evidence_digest: str
    measurement: dict[str, Any] | None
    enclave_key: dict[str, Any] | None
    ended_at: datetime | None
    end_reason: str

    @property
    def attested(self) -> bool:
        return bool(self.verifier)


_FIELDS = (
    "pk",
    "grant_id",
    "principal_id",
    "action",
    "purpose",
    "expires_at",
    "verifier",
    "measurement_entry__allow_list__name",
    "evidence_digest",
    "measurement",
    "enclave_key",
    "ended_at",
    "end_reason",
)


class _Kept:
    """The sessions this process has read, by token digest (bounded, oldest first out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._facts: OrderedDict[str, SessionFact] = OrderedDict()

    def get(self, digest: str) -> SessionFact | None:
        with self._lock:
            return self._facts.get(digest)

    def put(self, digest: str, fact: SessionFact) -> None:
        with self._lock:
            self._facts[digest] = fact
            while len(self._facts) > KEPT:
                self._facts.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._facts.clear()


_kept = _Kept()


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_fact(token: object) -> SessionFact | None:
    """The session a request names in ``context.session``: from memory, or one query the first time. None for a
    token no session has (not kept: a made-up token costs a query each time, as any unknown credential does)."""
    if not isinstance(token, str) or not token:
        return None
    digest = session_digest(token)
    fact = _kept.get(digest)
    if fact is not None:
        return fact
    row = DecisionSession.objects.filter(digest=digest).values_list(*_FIELDS).first()
    if row is None:
        return None
    fields = dict(zip(_FIELDS, row, strict=True))
    fields["allow_list"] = fields.pop("measurement_entry__allow_list__name") or ""
    fact = SessionFact(**fields)
    _kept.put(digest, fact)
    return fact


def sessions_forget() -> None:
    """Forget every session read (tests: each test database starts its own)."""
    _kept.clear()


def ending_message(reason: str, ended_at: datetime | None) -> str:
    when = f" at {ended_at:%Y-%m-%d %H:%M} UTC" if ended_at else ""
    return f"The session ended{when}: {ENDINGS.get(reason, 'it was ended')}."


def sessions_end(
    *, reason: str, by: Actor, grant_id: int | None = None, entry_id: int | None = None, now: datetime | None = None
) -> int:
    """End the live sessions of a grant, or those attested on a measurement entry, announcing it on the policy feed
    (the caller's transaction carries both). How many ended."""
    if reason not in ENDINGS:
        raise ValueError(f"Unknown reason for ending sessions: {reason!r}")
    if (grant_id is None) == (entry_id is None):
        raise ValueError("End the sessions of a grant or of a measurement entry.")
    now = now or timezone.now()
    which = Q(grant_id=grant_id) if grant_id is not None else Q(measurement_entry_id=entry_id)
    with transaction.atomic():
        live = DecisionSession.objects.select_for_update().filter(which, ended_at__isnull=True, expires_at__gt=now)
        ended = list(live.values_list("pk", "expires_at", "grant_id", "grant__partner__slug"))
        if not ended:
            return 0
        DecisionSession.objects.filter(pk__in=[pk for pk, *_ in ended]).update(ended_at=now, end_reason=reason)
        state = {
            "reason": reason,
            "ended_at": now.isoformat(),
            # Each with its expiry, so a process can forget it once it would have expired anyway.
            "sessions": [[pk, expires_at.isoformat()] for pk, expires_at, *_ in ended],
        }
        policy_changed(Kind.SESSIONS, grant_id if grant_id is not None else entry_id or 0, state=state, by=by)
        # One event per partner whose sessions ended: each partner's slice of the trail shows its own.
        by_partner: dict[str, list[tuple[int, int]]] = {}
        for pk, _, grant, partner in ended:
            by_partner.setdefault(partner, []).append((pk, grant))
        for partner, sessions in sorted(by_partner.items()):
            record(
                action="sessions.ended",
                actor=by,
                partner=partner,
                reason=ending_message(reason, None),
                details={
                    "reason": reason,
                    "sessions": [pk for pk, _ in sessions],
                    "grants": sorted({grant for _, grant in sessions}),
                },
            )
    return len(ended)
