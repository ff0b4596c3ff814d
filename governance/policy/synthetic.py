"""Generated policies, in memory: what `manage.py bench_decisions` loads and the differential tests compare.

A world is charters with their terms, grants to principals and to partner roles, and role members, shaped like
real ones (most grants active, some suspended or held, some for roles, a few purposes given as "*"), and built
from a seed so that a run can be repeated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from charters.models import Charter
from charters.vocabulary import Action
from governance.models import Grant
from governance.policy.bundle import CharterFact, CharterTerms, GrantFact

ACTIONS = tuple(Action.values)
PURPOSES = ("benchmarking", "safety-evaluation", "red-teaming", "research")
WILDCARD = "*"
KIND = "model"
# The moment the generated grants' windows are placed around: the hour this module was loaded in, because
# bench/whatif.py replays decisions recorded over the last days of the real clock against them. Only the dates move
# with it: a seed still generates the same world, and evaluating at NOW gives the same answers on any day.
NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


@dataclass
class World:
    grants: list[GrantFact]
    charters: list[CharterFact]
    members: dict[int, frozenset[int]]
    principals: int
    fingerprints: list[str] = field(default_factory=list)


def fingerprint(number: int) -> str:
    return f"{number:064x}"


def terms(rng: random.Random, fingerprints: list[str], *, wildcard: bool) -> CharterTerms:
    """Terms permitting most actions for most purposes (and "*" when ``wildcard``); the partner accepted a
    version that permits a little less, as after an amendment not yet accepted."""
    purposes = [*PURPOSES, WILDCARD] if wildcard else list(PURPOSES)
    active: dict[str, dict[str, dict[str, Any]]] = {KIND: {}}
    for action in ACTIONS:
        if rng.random() < 0.9:
            allowed = {purpose for purpose in purposes if rng.random() < 0.85}
            obligations = [{"code": "log_outputs", "params": {}}] if rng.random() < 0.3 else []
            active[KIND][action] = {"purposes": allowed, "obligations": obligations}
    # Sorted before drawing: a set's order changes with each process's string hashing, and a seed must give one world.
    accepted = {
        KIND: {
            action: {"purposes": {p for p in sorted(slot["purposes"]) if rng.random() < 0.95}, "obligations": []}
            for action, slot in active[KIND].items()
        }
    }
    shared = frozenset(fingerprints)
    return CharterTerms(active=active, accepted=accepted, active_shared=shared, accepted_shared=shared)


def grant(
    rng: random.Random,
    pk: int,
    *,
    charter: CharterFact,
    fingerprints: list[str],
    principals: int,
    roles: int,
    role_share: float = 0.1,
    suspended_share: float = 0.02,
    held_share: float = 0.01,
) -> GrantFact:
    for_role = roles > 0 and rng.random() < role_share
    status = Grant.Status.SUSPENDED if rng.random() < suspended_share else Grant.Status.ACTIVE
    permitted = sorted(charter.terms.active.get(KIND, {})) or list(ACTIONS)
    actions = frozenset(rng.sample(permitted, k=min(len(permitted), rng.choice((1, 1, 2, 3)))))
    purposes = frozenset(rng.sample([*PURPOSES, WILDCARD], k=rng.choice((1, 2, 2, 3))))
    return GrantFact(
        pk=pk,
        principal_id=None if for_role else rng.randrange(1, principals + 1),
        role_id=rng.randrange(1, roles + 1) if for_role else None,
        charter_id=charter.pk,
        kind=KIND,
        fingerprint=rng.choice(fingerprints),
        actions=actions,
        purposes=purposes,
        valid_from=NOW - timedelta(days=30),
        valid_until=NOW + timedelta(days=rng.choice((-1, 60, 90, 365))),
        status=status,
        held=rng.random() < held_share,
        requires_session=False,
        requires_attestation=False,
        daily_quota=10**9,
        monthly_quota=10**9,
        rate_per_minute=10**9,
    )


def world(rng: random.Random, grants: int, *, charters: int | None = None) -> World:
    """``grants`` grants over a proportionate number of principals, roles, charters and asset versions."""
    charters = charters or max(2, min(50, grants // 200))
    principals = max(5, grants // 20)
    roles = max(2, grants // 500)
    fingerprints = [fingerprint(n) for n in range(max(4, grants // 10))]
    per_charter = max(1, len(fingerprints) // charters)
    charter_facts = []
    for number in range(1, charters + 1):
        shared = fingerprints[(number - 1) * per_charter : number * per_charter] or fingerprints
        status = Charter.Status.SUSPENDED if number % 10 == 0 else Charter.Status.ACTIVE
        charter_facts.append(
            CharterFact(
                pk=number, slug=f"charter-{number}", status=status, terms=terms(rng, shared, wildcard=number % 3 == 0)
            )
        )
    shared_by = {charter.pk: sorted(charter.terms.active_shared) for charter in charter_facts}
    grant_facts = []
    for pk in range(1, grants + 1):
        charter = rng.choice(charter_facts)
        grant_facts.append(
            grant(rng, pk, charter=charter, fingerprints=shared_by[charter.pk], principals=principals, roles=roles)
        )
    members = {
        role: frozenset(rng.sample(range(1, principals + 1), k=min(principals, rng.randint(1, 8))))
        for role in range(1, roles + 1)
    }
    return World(
        grants=grant_facts, charters=charter_facts, members=members, principals=principals, fingerprints=fingerprints
    )


def request(rng: random.Random, world: World) -> tuple[int, str, str, str]:
    """(principal id, fingerprint, action, purpose): most aimed at a grant, some at nothing in particular."""
    if rng.random() < 0.8:
        target = rng.choice(world.grants)
        if target.principal_id is not None:
            principal = target.principal_id
        else:
            principal = rng.choice(sorted(world.members.get(target.role_id or 0, frozenset({1}))) or [1])
        purpose = rng.choice(sorted(target.purposes))
        if purpose == WILDCARD or rng.random() < 0.1:
            purpose = rng.choice(PURPOSES)
        return principal, target.fingerprint, rng.choice(sorted(target.actions)), purpose
    return (
        rng.randrange(1, world.principals + 1),
        rng.choice(world.fingerprints),
        rng.choice(ACTIONS),
        rng.choice(PURPOSES),
    )
