"""The compiled policy a process decides from: grant facts, charter terms, role members and the policy index.

A snapshot is loaded once per process and then kept current change by change: each change in the policy feed
carries the state of the object it names (a grant, a charter, a role), and applying it moves only that object's
lines in and out of the index and the bundle hash. Replaying the feed in order therefore passes through exactly
the policies the changes made, which is what lets a stored bundle name the policy any decision was made under.
The feed also carries the early end of decision sessions (``ended``: their ids, why and until when they would
have lasted), which every decision naming one checks. Nothing in a decision reads the database except the first
look at a session this process has not seen (governance.decisions.sessions), so a decision costs the same with 100
grants or 100,000.

Threads: ``lock`` guards reading and changing the structures (a decision holds it while it evaluates, a
catch-up while it applies); ``_catching_up`` keeps two catch-ups (the listener's and a decision's) apart.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from charters.models import Charter, PolicyChange
from charters.services.charters import charter_policy_state
from charters.services.policy_feed import Head, policy_changes_from, policy_head
from governance.models import DecisionSession, Grant, PartnerRole
from governance.policy.bundle import (
    Bundle,
    CharterFact,
    GrantFact,
    Line,
    LineSetHash,
    grant_lines,
    policy_text,
    principal_subject,
    role_subject,
)
from governance.policy.index import PolicyIndex

# A revoked, refused or requested grant decides nothing ("no_grant" either way), so a snapshot leaves it out; an
# expired one stays, to say "grant_expired".
KEPT_GRANT_STATES = (Grant.Status.ACTIVE, Grant.Status.SUSPENDED, Grant.Status.EXPIRED)
_GRANT_FIELDS = (
    "pk",
    "principal_id",
    "partner_role_id",
    "charter_id",
    "asset_version__asset__kind",
    "asset_version__fingerprint",
    "actions",
    "purposes",
    "valid_from",
    "valid_until",
    "status",
    "held_at",
    "requires_session",
    "requires_attestation",
    "daily_quota",
    "monthly_quota",
    "rate_per_minute",
    "attestation_policy",
)
NO_MEMBERS: frozenset[int] = frozenset()
EMPTY_FEED = Head(0, "")


def _grant_fact(row: tuple[Any, ...]) -> GrantFact:
    (pk, principal, role, charter, kind, fingerprint, actions, purposes, valid_from, valid_until, status, held_at,
     session, attestation, daily, monthly, rate, attestation_policy) = row  # fmt: skip
    return GrantFact(
        pk=pk,
        principal_id=principal,
        role_id=role,
        charter_id=charter,
        kind=kind,
        fingerprint=fingerprint,
        actions=frozenset(actions),
        purposes=frozenset(purposes),
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        held=held_at is not None,
        requires_session=session,
        requires_attestation=attestation,
        daily_quota=daily,
        monthly_quota=monthly,
        rate_per_minute=rate,
        attestation_policy=policy_text(attestation_policy),
    )


def _charter_fact(charter: Charter) -> CharterFact:
    return CharterFact.from_state(charter.pk, charter_policy_state(charter))


def _read_grants() -> list[GrantFact]:
    rows = Grant.objects.filter(status__in=KEPT_GRANT_STATES).values_list(*_GRANT_FIELDS)
    return [_grant_fact(row) for row in rows]


def _read_charters(ids: Iterable[int]) -> list[CharterFact]:
    return [_charter_fact(charter) for charter in Charter.objects.select_related("active_version").filter(pk__in=ids)]


def _read_members(role_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    members: dict[int, set[int]] = {role: set() for role in role_ids}
    links = PartnerRole.members.through.objects.filter(partnerrole_id__in=list(members))
    for role, user in links.values_list("partnerrole_id", "user_id"):
        members[role].add(user)
    return {role: frozenset(users) for role, users in members.items()}


@dataclass(frozen=True)
class Ended:
    """A decision session that ended early: why (a deny code), when, and when it would have expired."""

    reason: str
    at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SessionsEnded:
    """A ``sessions`` change of the feed: the sessions it ended."""

    ended: dict[int, Ended]

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SessionsEnded:
        at = datetime.fromisoformat(state["ended_at"])
        return cls(
            {pk: Ended(state["reason"], at, datetime.fromisoformat(expires)) for pk, expires in state["sessions"]}
        )


def _read_ended(now: datetime) -> dict[int, Ended]:
    """The sessions that ended early and would still be live otherwise."""
    rows = DecisionSession.objects.filter(ended_at__isnull=False, expires_at__gt=now).values_list(
        "pk", "end_reason", "ended_at", "expires_at"
    )
    return {pk: Ended(reason, at, expires) for pk, reason, at, expires in rows if at is not None}


def _forget(index: dict[Any, set[int]], key: Any, pk: int) -> None:
    """Remove a grant id from an index entry, and the entry once it is empty (ids come and go for years)."""
    ids = index.get(key)
    if ids is not None:
        ids.discard(pk)
        if not ids:
            del index[key]


@dataclass
class CatchUp:
    """What one catch-up did: how many changes it applied, or that it had to load everything again."""

    applied: int = 0
    reloaded: bool = False


class Snapshot:
    def __init__(self, version: Head = EMPTY_FEED) -> None:
        self.lock = threading.RLock()
        self._catching_up = threading.Lock()
        self.version = version
        self.loaded_ms = 0.0
        self.grants: dict[int, GrantFact] = {}
        self.charters: dict[int, CharterFact] = {}
        self.members: dict[int, frozenset[int]] = {}
        self._roles_of: dict[int, set[int]] = defaultdict(set)
        self._candidates: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._by_charter: dict[int, set[int]] = defaultdict(set)
        self._by_role: dict[int, set[int]] = defaultdict(set)
        self._lines: dict[int, tuple[frozenset[Line], frozenset[Line]]] = {}
        self.index = PolicyIndex()
        self._hash = LineSetHash()
        self.ended: dict[int, Ended] = {}
        # When a list, every line that enters or leaves the policy is noted in it: ("+" or "-", "p" or "g", line).
        self.journal: list[tuple[str, str, Line]] | None = None

    # --- Building ---------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        grants: Iterable[GrantFact],
        charters: Iterable[CharterFact],
        members: dict[int, frozenset[int]],
        version: Head = EMPTY_FEED,
    ) -> Snapshot:
        """A snapshot from facts already in memory (what a benchmark or a test hands it)."""
        snapshot = cls(version)
        snapshot.charters = {charter.pk: charter for charter in charters}
        snapshot.members = dict(members)
        for role, users in members.items():
            for user in users:
                snapshot._roles_of[user].add(role)
        with snapshot.index.batch():
            for grant in grants:
                snapshot.put_grant(grant)
        return snapshot

    @classmethod
    def load(cls) -> Snapshot:
        """Everything from the database: the feed's head and the rows
        read in the same transaction (on PostgreSQL a repeatable-read one), so they are the policy at that head."""
        started = time.perf_counter()
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                # One consistent view of the head and the rows, so the snapshot is exactly the policy at the head.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = policy_head()
            grants = _read_grants()
            # Every charter and role, not only those with grants now: a later change may give them one.
            charters = _read_charters(Charter.objects.values_list("pk", flat=True))
            members = _read_members(PartnerRole.objects.values_list("pk", flat=True))
            ended = _read_ended(timezone.now())
        snapshot = cls.build(grants, charters, members, head)
        snapshot.ended = ended
        snapshot.loaded_ms = (time.perf_counter() - started) * 1000
        return snapshot

    # --- Changing in place ------------------------------------------------------------------------------

    def _compile(self, grant: GrantFact) -> None:
        charter = self.charters.get(grant.charter_id)
        if charter is None:
            return
        members = self.members.get(grant.role_id, NO_MEMBERS) if grant.role_id is not None else NO_MEMBERS
        policies, groupings = grant_lines(grant, charter, members)
        self._lines[grant.pk] = (policies, groupings)
        for line in policies:
            if self.index.add_policy(line):
                self._gained("p", line)
        for line in groupings:
            if self.index.add_grouping(line):
                self._gained("g", line)

    def _uncompile(self, pk: int) -> None:
        policies, groupings = self._lines.pop(pk, (frozenset(), frozenset()))
        for line in policies:
            if self.index.remove_policy(line):
                self._lost("p", line)
        for line in groupings:
            if self.index.remove_grouping(line):
                self._lost("g", line)

    def _gained(self, kind: str, line: Line) -> None:
        self._hash.add(kind, line)
        if self.journal is not None:
            self.journal.append(("+", kind, line))

    def _lost(self, kind: str, line: Line) -> None:
        self._hash.remove(kind, line)
        if self.journal is not None:
            self.journal.append(("-", kind, line))

    def put_grant(self, grant: GrantFact) -> None:
        self.drop_grant(grant.pk)
        self.grants[grant.pk] = grant
        self._candidates[(grant.subject, grant.fingerprint)].add(grant.pk)
        self._by_charter[grant.charter_id].add(grant.pk)
        if grant.role_id is not None:
            self._by_role[grant.role_id].add(grant.pk)
        self._compile(grant)

    def drop_grant(self, pk: int) -> None:
        old = self.grants.pop(pk, None)
        if old is None:
            return
        self._uncompile(pk)
        _forget(self._candidates, (old.subject, old.fingerprint), pk)
        _forget(self._by_charter, old.charter_id, pk)
        if old.role_id is not None:
            _forget(self._by_role, old.role_id, pk)

    def _recompile(self, grant_ids: Iterable[int]) -> None:
        with self.index.batch():
            for pk in list(grant_ids):
                self._uncompile(pk)
                self._compile(self.grants[pk])

    def put_charter(self, charter: CharterFact) -> None:
        self.charters[charter.pk] = charter
        self._recompile(self._by_charter.get(charter.pk, ()))

    def put_members(self, role: int, users: frozenset[int]) -> None:
        for user in self.members.get(role, NO_MEMBERS) - users:
            self._roles_of[user].discard(role)
        for user in users:
            self._roles_of[user].add(role)
        self.members[role] = users
        self._recompile(self._by_role.get(role, ()))

    def end_sessions(self, change: SessionsEnded) -> None:
        """Note sessions that ended (they change no line of the policy), forgetting those past their expiry."""
        now = timezone.now()
        if len(self.ended) > 1000:
            self.ended = {pk: ended for pk, ended in self.ended.items() if ended.expires_at > now}
        self.ended.update(change.ended)

    # --- Keeping up with the feed -----------------------------------------------------------------------

    def is_current(self, head: Head) -> bool:
        return head == self.version

    def catch_up(self) -> CatchUp:
        """Apply the feed's changes after this snapshot's version. When the feed no longer holds the change
        the snapshot was at (pruned, or another history: a restored database), say so with ``reloaded`` and
        change nothing: the caller loads a new snapshot."""
        with self._catching_up:
            version, head = self.version, policy_head()
            if head == version:
                return CatchUp()
            if head.seq < version.seq:
                return CatchUp(reloaded=True)
            changes = policy_changes_from(version.seq)
            if version.seq > 0:
                # The change this snapshot was at must still be there, with the same token.
                if not changes or changes[0].seq != version.seq or changes[0].token != version.token:
                    return CatchUp(reloaded=True)
                changes = changes[1:]
            if not changes:
                with self.lock:
                    self.version = head  # the feed is still empty: nothing to apply
                return CatchUp()
            if not self._apply(changes):
                return CatchUp(reloaded=True)
            return CatchUp(applied=len(changes))

    def _apply(self, changes: list[PolicyChange]) -> bool:
        """Apply each change as the feed describes it, in order; False (nothing applied) when a change carries
        no state (written before the feed did) and only a full load can tell what it did."""
        if any(not change.state for change in changes):
            return False
        # Charter terms read their versions' documents: do that before taking the lock.
        facts = [(change, self._fact(change)) for change in changes]
        with self.lock, self.index.batch():
            for change, fact in facts:
                if isinstance(fact, GrantFact):
                    if fact.status in KEPT_GRANT_STATES:
                        self.put_grant(fact)
                    else:
                        self.drop_grant(fact.pk)
                elif isinstance(fact, CharterFact):
                    self.put_charter(fact)
                elif isinstance(fact, SessionsEnded):
                    self.end_sessions(fact)
                else:
                    self.put_members(change.object_id, fact)
            self.version = Head(changes[-1].seq, changes[-1].token)
        return True

    @staticmethod
    def _fact(change: PolicyChange) -> GrantFact | CharterFact | SessionsEnded | frozenset[int]:
        if change.kind == PolicyChange.Kind.GRANT:
            return GrantFact.from_state(change.object_id, change.state)
        if change.kind == PolicyChange.Kind.CHARTER:
            return CharterFact.from_state(change.object_id, change.state)
        if change.kind == PolicyChange.Kind.SESSIONS:
            return SessionsEnded.from_state(change.state)
        return frozenset(change.state["members"])

    def apply(self, change: PolicyChange) -> bool:
        """Apply one change of the feed (the bundle recorder steps through them one at a time)."""
        return self._apply([change])

    def facts(self) -> dict[str, Any]:
        """Everything the snapshot was compiled from, as plain JSON: what a checkpoint bundle stores."""
        with self.lock:
            return {
                "grants": {str(pk): grant.as_state() for pk, grant in self.grants.items()},
                "charters": {str(pk): charter.as_state() for pk, charter in self.charters.items()},
                "members": {str(role): sorted(users) for role, users in self.members.items()},
            }

    @classmethod
    def from_facts(cls, facts: dict[str, Any], version: Head) -> Snapshot:
        return cls.build(
            [GrantFact.from_state(int(pk), state) for pk, state in facts["grants"].items()],
            [CharterFact.from_state(int(pk), state) for pk, state in facts["charters"].items()],
            {int(role): frozenset(users) for role, users in facts["members"].items()},
            version,
        )

    # --- Reading ----------------------------------------------------------------------------------------

    def candidates(self, principal_id: int, fingerprint: str) -> list[GrantFact]:
        """The principal's grants for this asset version, its own and its roles', in grant order."""
        found = set(self._candidates.get((principal_subject(principal_id), fingerprint), ()))
        for role in self._roles_of.get(principal_id, ()):
            found |= self._candidates.get((role_subject(role), fingerprint), set())
        return [self.grants[pk] for pk in sorted(found)]

    @property
    def bundle_hash(self) -> str:
        return self._hash.hexdigest()

    def bundle(self) -> Bundle:
        """The compiled lines, sorted, with their hash: what Casbin's reference Enforcer loads."""
        with self.lock:
            policies = {line for lines, _ in self._lines.values() for line in lines}
            groupings = {line for _, lines in self._lines.values() for line in lines}
            return Bundle(policies=tuple(sorted(policies)), groupings=tuple(sorted(groupings)), hash=self.bundle_hash)


def compile_bundle() -> Bundle:
    """The policy as it stands in the database, compiled afresh."""
    return Snapshot.load().bundle()
