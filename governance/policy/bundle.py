"""Compiling grants into Casbin policy lines, and the bundle: those lines plus the model, named by their hash.

Casbin's plain Enforcer over these lines is the reference for what a decision means; decisions are made by the
flat-cost PolicyIndex built from the same lines (governance.policy.snapshot keeps one per process), and tests
prove the two agree.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import casbin
from casbin import persist
from casbin.model import Model

from charters import documents
from charters.models import Charter, CharterVersion
from charters.services.charters import charter_accepted_version
from governance.attestation.requirements import Requirement
from governance.models import Grant

MODEL_PATH = Path(__file__).resolve().parent / "model.conf"
MODEL_DIGEST = hashlib.sha256(MODEL_PATH.read_bytes()).digest()
LIVE_CHARTER_STATES = (Charter.Status.ACTIVE, Charter.Status.SUSPENDED)

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


@functools.lru_cache(maxsize=1024)
def _document(version_id: int | None) -> dict[str, Any] | None:
    """A charter version's document. Cached: a version is immutable once it is in review, and only those count."""
    if version_id is None:
        return None
    return CharterVersion.objects.values_list("document", flat=True).filter(pk=version_id).first()


def forget_documents() -> None:
    _document.cache_clear()


@dataclass(frozen=True)
class CharterTerms:
    """What a charter lets its grants use, now and as the partner last accepted it."""

    active: dict[str, dict[str, dict[str, Any]]]
    accepted: dict[str, dict[str, dict[str, Any]]] | None
    active_shared: frozenset[str]
    accepted_shared: frozenset[str]
    # What an enclave must show, by (asset kind, action): read once from the terms, since a decision asks per grant.
    requirements: dict[tuple[str, str], Requirement] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The active version's terms, else the accepted one's: dropping a requirement is a loosening, and waits for
        # the partner's acceptance like any other; adding or tightening one applies at once.
        found: dict[tuple[str, str], Requirement] = {}
        for permitted in (self.accepted or {}, self.active):
            for kind, actions in permitted.items():
                for action, slot in actions.items():
                    if slot.get("attestation"):
                        found[(kind, action)] = Requirement.of(slot["attestation"])
        object.__setattr__(self, "requirements", found)

    @classmethod
    def of(cls, charter: Charter) -> CharterTerms:
        accepted = charter_accepted_version(charter)
        return cls.of_versions(charter.active_version_id, accepted.pk if accepted else None)

    @classmethod
    def of_versions(cls, active_id: int | None, accepted_id: int | None) -> CharterTerms:
        """The terms of an active version and an accepted one, by id (versions never change once active)."""
        active, accepted = _document(active_id), _document(accepted_id)
        return cls(
            active=documents.permissions(active) if active else {},
            accepted=documents.permissions(accepted) if accepted else None,
            active_shared=frozenset(documents.shareable_fingerprints(active)) if active else frozenset(),
            accepted_shared=frozenset(documents.shareable_fingerprints(accepted)) if accepted else frozenset(),
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

    def attestation(self, kind: str, action: str) -> Requirement | None:
        """What an enclave must show to use ``action`` on a ``kind``: the active version's terms, or the accepted
        version's when the active one has none."""
        return self.requirements.get((kind, action))


def policy_text(policy: Any) -> str:
    """A grant's claims policy as facts keep it: canonical JSON, or "" for none."""
    return json.dumps(policy, sort_keys=True, separators=(",", ":")) if policy else ""


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
    # The grant's own claims policy as JSON text ("" when it has none), so the fact stays hashable and plain.
    attestation_policy: str = ""

    @classmethod
    def of(cls, grant: Grant) -> GrantFact:
        return cls(
            pk=grant.pk,
            principal_id=grant.principal_id,
            role_id=grant.partner_role_id,
            charter_id=grant.charter_id,
            kind=grant.asset_version.asset.kind,
            fingerprint=grant.asset_version.fingerprint,
            actions=frozenset(grant.actions),
            purposes=frozenset(grant.purposes),
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            status=grant.status,
            held=grant.held_at is not None,
            requires_session=grant.requires_session,
            requires_attestation=grant.requires_attestation,
            daily_quota=grant.daily_quota,
            monthly_quota=grant.monthly_quota,
            rate_per_minute=grant.rate_per_minute,
            attestation_policy=policy_text(grant.attestation_policy),
        )

    def as_state(self) -> dict[str, Any]:
        """Plain JSON, for the policy feed and checkpoints."""
        state = {name: getattr(self, name) for name in self.__slots__ if name != "pk"}
        state.update(
            actions=sorted(self.actions),
            purposes=sorted(self.purposes),
            valid_from=self.valid_from.isoformat(),
            valid_until=self.valid_until.isoformat(),
        )
        return state

    @classmethod
    def from_state(cls, pk: int, state: dict[str, Any]) -> GrantFact:
        return cls(
            pk=pk,
            **{
                **state,
                "actions": frozenset(state["actions"]),
                "purposes": frozenset(state["purposes"]),
                "valid_from": datetime.fromisoformat(state["valid_from"]),
                "valid_until": datetime.fromisoformat(state["valid_until"]),
            },
        )

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
    active_version: int | None = None
    accepted_version: int | None = None

    @classmethod
    def from_state(cls, pk: int, state: dict[str, Any]) -> CharterFact:
        """A charter as the policy feed describes it after a change."""
        return cls(
            pk=pk,
            slug=state["slug"],
            status=state["status"],
            terms=CharterTerms.of_versions(state["active_version"], state["accepted_version"]),
            active_version=state["active_version"],
            accepted_version=state["accepted_version"],
        )

    def as_state(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "status": self.status,
            "active_version": self.active_version,
            "accepted_version": self.accepted_version,
        }


def grant_lines(
    grant: GrantFact, charter: CharterFact, members: frozenset[int]
) -> tuple[frozenset[Line], frozenset[Line]]:
    """The Casbin lines one grant compiles to: (policies, groupings).

    A suspended or held grant, or one under a suspended charter, compiles to deny lines (deny-override); an allow
    line is written only for what the charter permits now and the partner has accepted.
    """
    if grant.status not in Grant.LIVE or charter.status not in LIVE_CHARTER_STATES:
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
