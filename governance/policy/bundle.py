"""Compiling grants into Casbin policy lines, and the bundle: those lines plus the model, named by their hash.

Casbin's plain Enforcer over these lines is the reference for what a decision means; decisions are made by the
flat-cost PolicyIndex built from the same lines, and tests prove the two agree. The lines are derived from the
database on each decision (grants, their charters' states, the versions the partner accepted), so a change takes
effect at the next decision; keeping a compiled index current in every process is the fast-path issue's work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
LIVE_CHARTER_STATES = (Charter.Status.ACTIVE, Charter.Status.SUSPENDED)


class PolicyUnavailableError(Exception):
    """The policy could not be compiled or loaded; decisions fail closed."""


def principal_subject(user_id: int) -> str:
    return f"user:{user_id}"


def role_subject(role_id: int) -> str:
    return f"role:{role_id}"


@dataclass(frozen=True)
class Bundle:
    policies: tuple[tuple[str, ...], ...]
    groupings: tuple[tuple[str, ...], ...]
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


def compile_bundle(terms: dict[int, CharterTerms] | None = None) -> Bundle:
    """The policy as Casbin lines. ``terms``, when given, is filled with each live charter's terms (by charter id)
    so that the caller can explain decisions without reading them again."""
    grants = (
        Grant.objects.filter(
            status__in=[Grant.Status.ACTIVE, Grant.Status.SUSPENDED], charter__status__in=LIVE_CHARTER_STATES
        )
        .select_related("charter__active_version", "asset_version__asset", "partner_role")
        .prefetch_related("partner_role__members")
        .order_by("pk")
    )
    terms = {} if terms is None else terms
    policies: set[tuple[str, ...]] = set()
    groupings: set[tuple[str, ...]] = set()
    for grant in grants:
        charter = grant.charter
        if charter.pk not in terms:
            terms[charter.pk] = CharterTerms.of(charter)
        subject = (
            principal_subject(grant.principal_id) if grant.principal_id else role_subject(grant.partner_role_id or 0)
        )
        fingerprint = grant.asset_version.fingerprint
        denied = (
            grant.status == Grant.Status.SUSPENDED
            or grant.held_at is not None
            or charter.status != Charter.Status.ACTIVE
        )
        if grant.partner_role is not None:
            for member in grant.partner_role.members.all():
                groupings.add((principal_subject(member.pk), subject, charter.slug))
        for action in grant.actions:
            for purpose in grant.purposes:
                if denied:
                    policies.add((subject, charter.slug, fingerprint, action, purpose, "deny"))
                    continue
                if terms[charter.pk].permits(grant.asset_version.asset.kind, fingerprint, action, purpose):
                    policies.add((subject, charter.slug, fingerprint, action, purpose, "allow"))
    ordered_policies = tuple(sorted(policies))
    ordered_groupings = tuple(sorted(groupings))
    digest = hashlib.sha256(MODEL_PATH.read_bytes())
    for line in (*ordered_policies, *ordered_groupings):
        digest.update(("\x1f".join(line) + "\n").encode())
    return Bundle(policies=ordered_policies, groupings=ordered_groupings, hash=digest.hexdigest())


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
