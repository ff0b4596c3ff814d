"""Compiling grants into Casbin policy lines, and the bundle: those lines plus the model, named by their hash.

Casbin's plain Enforcer over these lines is the reference for what a decision means; decisions are made by the
flat-cost PolicyIndex built from the same lines (governance.policy.snapshot keeps one per process), and tests
prove the two agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import casbin
from casbin import persist
from casbin.model import Model

from charters import documents
from charters.models import Charter
from governance.models import Grant
from governance.services.grants import acknowledged_version

MODEL_PATH = Path(__file__).resolve().parent / "model.conf"
MODEL_DIGEST = hashlib.sha256(MODEL_PATH.read_bytes()).digest()
LIVE_CHARTER_STATES = (Charter.Status.ACTIVE, Charter.Status.SUSPENDED)
COMPILED_GRANT_STATES = (Grant.Status.ACTIVE, Grant.Status.SUSPENDED)

Line = tuple[str, ...]


def principal_subject(user_id: int) -> str:
    return f"user:{user_id}"


def role_subject(role_id: int) -> str:
    return f"role:{role_id}"


@dataclass(frozen=True)
class Bundle:
    policies: tuple[Line, ...]
    groupings: tuple[Line, ...]
    hash: str


@dataclass(frozen=True)
class CharterTerms:
    """What a charter lets its grants use, now and as the partner last accepted it."""

    active: dict[str, dict[str, dict[str, Any]]]
    accepted: dict[str, dict[str, dict[str, Any]]] | None
    active_shared: frozenset[str]
    accepted_shared: frozenset[str]

    @classmethod
    def of(cls, charter: Charter) -> CharterTerms:
        active = charter.active_version
        accepted = acknowledged_version(charter)
        return cls(
            active=documents.permissions(active.document) if active else {},
            accepted=documents.permissions(accepted.document) if accepted else None,
            active_shared=frozenset(documents.shareable_fingerprints(active.document)) if active else frozenset(),
            accepted_shared=frozenset(documents.shareable_fingerprints(accepted.document)) if accepted else frozenset(),
        )

    def permits_now(self, kind: str, fingerprint: str, action: str, purpose: str) -> bool:
        return fingerprint in self.active_shared and purpose in self.active.get(kind, {}).get(action, {}).get(
            "purposes", set()
        )

    def permitted_when_accepted(self, kind: str, fingerprint: str, action: str, purpose: str) -> bool:
        if self.accepted is None:
            return False
        return fingerprint in self.accepted_shared and purpose in self.accepted.get(kind, {}).get(action, {}).get(
            "purposes", set()
        )

    def permits(self, kind: str, fingerprint: str, action: str, purpose: str) -> bool:
        """Both: a restriction applies at once, a new permission only after the partner accepts it."""
        return self.permits_now(kind, fingerprint, action, purpose) and self.permitted_when_accepted(
            kind, fingerprint, action, purpose
        )

    def obligations(self, kind: str, action: str) -> list[dict[str, Any]]:
        return list(self.active.get(kind, {}).get(action, {}).get("obligations", []))


@dataclass(frozen=True, slots=True)
class GrantFact:
    """What a decision needs to know of a grant, read once into each process's snapshot."""

    pk: int
    principal_id: int | None
    role_id: int | None
    charter_id: int
    kind: str
    fingerprint: str
    actions: frozenset[str]
    purposes: frozenset[str]
    valid_from: datetime
    valid_until: datetime
    status: str
    held: bool
    requires_session: bool
    requires_attestation: bool
    daily_quota: int
    monthly_quota: int
    rate_per_minute: int

    @property
    def subject(self) -> str:
        if self.principal_id is not None:
            return principal_subject(self.principal_id)
        return role_subject(self.role_id or 0)


@dataclass(frozen=True, slots=True)
class CharterFact:
    pk: int
    slug: str
    status: str
    terms: CharterTerms


def grant_lines(
    grant: GrantFact, charter: CharterFact, members: frozenset[int]
) -> tuple[frozenset[Line], frozenset[Line]]:
    """The Casbin lines one grant compiles to: (policies, groupings).

    A suspended or held grant, or one under a suspended charter, compiles to deny lines (deny-override); an allow
    line is written only for what the charter permits now and the partner has accepted.
    """
    if grant.status not in COMPILED_GRANT_STATES or charter.status not in LIVE_CHARTER_STATES:
        return frozenset(), frozenset()
    subject = grant.subject
    denied = grant.status == Grant.Status.SUSPENDED or grant.held or charter.status != Charter.Status.ACTIVE
    policies = set()
    for action in grant.actions:
        for purpose in grant.purposes:
            if denied:
                policies.add((subject, charter.slug, grant.fingerprint, action, purpose, "deny"))
            elif charter.terms.permits(grant.kind, grant.fingerprint, action, purpose):
                policies.add((subject, charter.slug, grant.fingerprint, action, purpose, "allow"))
    groupings: frozenset[Line] = frozenset()
    if grant.role_id is not None:
        groupings = frozenset((principal_subject(member), subject, charter.slug) for member in members)
    return frozenset(policies), groupings


class LineSetHash:
    """A hash of a set of lines that does not depend on their order and that a change updates in place.

    Each line maps to a 2048-bit number (SHAKE-256) and the hash is their sum modulo 2**2048, so adding or
    removing a line costs one addition, whatever the size of the policy (an additive multiset hash; the large
    modulus keeps the generalised-birthday attacks on such sums far out of reach). The bundle's hash is the
    SHA-256 of the model file and that sum.
    """

    BYTES = 256
    _MASK = (1 << (8 * BYTES)) - 1

    def __init__(self) -> None:
        self.total = 0
        self._digest: str | None = None

    @classmethod
    def _value(cls, prefix: str, line: Line) -> int:
        encoded = (prefix + "\x1f" + "\x1f".join(line)).encode()
        return int.from_bytes(hashlib.shake_256(encoded).digest(cls.BYTES), "little")

    def add(self, prefix: str, line: Line) -> None:
        self.total = (self.total + self._value(prefix, line)) & self._MASK
        self._digest = None

    def remove(self, prefix: str, line: Line) -> None:
        self.total = (self.total - self._value(prefix, line)) & self._MASK
        self._digest = None

    def hexdigest(self) -> str:
        if self._digest is None:
            self._digest = hashlib.sha256(MODEL_DIGEST + self.total.to_bytes(self.BYTES, "little")).hexdigest()
        return self._digest


def bundle_hash(policies: Iterable[Line], groupings: Iterable[Line]) -> str:
    hashed = LineSetHash()
    for line in set(policies):
        hashed.add("p", line)
    for line in set(groupings):
        hashed.add("g", line)
    return hashed.hexdigest()


class BundleAdapter(persist.Adapter):
    """Loads a compiled bundle into an Enforcer. Read-only: the grant rows are the source of truth."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    def load_policy(self, model: Any) -> None:
        for line in self.bundle.policies:
            persist.load_policy_line(", ".join(("p", *line)), model)
        for line in self.bundle.groupings:
            persist.load_policy_line(", ".join(("g", *line)), model)


def enforcer_for(bundle: Bundle) -> casbin.Enforcer:
    model = Model()
    model.load_model(str(MODEL_PATH))
    return casbin.Enforcer(model, BundleAdapter(bundle))
