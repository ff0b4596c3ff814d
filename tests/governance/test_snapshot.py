"""A snapshot changed step by step is the snapshot built afresh, and it answers as Casbin's Enforcer does.

No database: the worlds are generated in memory (governance.policy.synthetic), then changed the ways the feed
changes them: grants approved, suspended, held, revoked; charters suspended or amended; role members moved.
"""

import dataclasses
import random

from charters.models import Charter
from governance.decisions.services import DecisionRequest, evaluate
from governance.models import Grant
from governance.policy import synthetic
from governance.policy.bundle import Bundle, CharterFact, bundle_hash, enforcer_for, principal_subject
from governance.policy.snapshot import Snapshot


def rebuilt(snapshot):
    """The same facts, built from nothing."""
    return Snapshot.build(snapshot.grants.values(), snapshot.charters.values(), snapshot.members)


def change(rng, snapshot, world, next_pk):
    """One change of the kinds the feed carries; returns the next free grant id."""
    kind = rng.choice(["new", "new", "status", "hold", "drop", "charter", "members"])
    grants = sorted(snapshot.grants)
    if kind == "new" or not grants:
        charter = rng.choice(list(snapshot.charters.values()))
        fingerprints = sorted(charter.terms.active_shared)
        snapshot.put_grant(
            synthetic.grant(
                rng, next_pk, charter=charter, fingerprints=fingerprints, principals=world.principals, roles=3
            )
        )
        return next_pk + 1
    grant = snapshot.grants[rng.choice(grants)]
    if kind == "status":
        status = rng.choice([Grant.Status.ACTIVE, Grant.Status.SUSPENDED, Grant.Status.EXPIRED])
        snapshot.put_grant(dataclasses.replace(grant, status=status))
    elif kind == "hold":
        snapshot.put_grant(dataclasses.replace(grant, held=not grant.held))
    elif kind == "drop":
        snapshot.drop_grant(grant.pk)
    elif kind == "charter":
        charter = snapshot.charters[grant.charter_id]
        status = rng.choice([Charter.Status.ACTIVE, Charter.Status.SUSPENDED, Charter.Status.TERMINATED])
        amended = synthetic.terms(rng, sorted(charter.terms.active_shared), wildcard=rng.random() < 0.5)
        snapshot.put_charter(dataclasses.replace(charter, status=status, terms=amended))
    else:
        role = rng.randint(1, 3)
        snapshot.put_members(role, frozenset(rng.sample(range(1, world.principals + 1), k=rng.randint(0, 4))))
    return next_pk


def test_a_snapshot_changed_step_by_step_equals_one_built_afresh_and_agrees_with_casbin_on_10000_requests():
    rng = random.Random(20261122)  # fixed: a failure can be replayed
    compared = allowed = denied_by_a_deny_line = 0
    for _trial in range(40):
        world = synthetic.world(rng, 60, charters=3)
        world.members = {role: frozenset(rng.sample(range(1, world.principals + 1), k=3)) for role in (1, 2, 3)}
        world.grants = [dataclasses.replace(g, role_id=rng.randint(1, 3)) if g.role_id else g for g in world.grants]
        snapshot = Snapshot.build(world.grants, world.charters, world.members)
        next_pk = len(world.grants) + 1
        for _step in range(5):
            for _ in range(rng.randint(1, 6)):
                next_pk = change(rng, snapshot, world, next_pk)
            fresh = rebuilt(snapshot).bundle()
            bundle = snapshot.bundle()
            assert bundle == fresh
            assert bundle.hash == bundle_hash(bundle.policies, bundle.groupings)
            reference = enforcer_for(bundle)
            for _ in range(50):
                principal, fingerprint, action, purpose = synthetic.request(rng, world)
                sub = principal_subject(principal)
                for charter in {
                    snapshot.charters[g.charter_id].slug for g in snapshot.candidates(principal, fingerprint)
                } or {"charter-1"}:
                    expected = reference.enforce(sub, charter, fingerprint, action, purpose)
                    assert snapshot.index.enforce(sub, charter, fingerprint, action, purpose) == expected, (
                        sub,
                        charter,
                        fingerprint,
                        action,
                        purpose,
                    )
                    compared += 1
                    allowed += expected
                    denied_by_a_deny_line += not expected and any(
                        line[5] == "deny" and line[2] == fingerprint and line[3] == action for line in bundle.policies
                    )
    assert compared >= 10_000, compared
    # Both answers, and deny-overrides, must be well represented, or the agreement would prove little.
    assert 1_000 < allowed < compared - 1_000, (allowed, compared)
    assert denied_by_a_deny_line > 200, denied_by_a_deny_line


def test_the_bundle_hash_is_the_same_for_the_same_lines_in_any_order_and_changes_with_any_line():
    lines = [("user:1", "c", synthetic.fingerprint(n), "infer", "benchmarking", "allow") for n in range(50)]
    groupings = [("user:1", "role:1", "c")]
    shuffled = lines[:]
    random.Random(1).shuffle(shuffled)
    assert bundle_hash(lines, groupings) == bundle_hash(shuffled, groupings)
    hashes = {bundle_hash(lines, groupings), bundle_hash(lines[1:], groupings), bundle_hash(lines, [])}
    for index in range(6):
        changed = list(lines)
        changed[0] = tuple(field + "x" if position == index else field for position, field in enumerate(lines[0]))
        hashes.add(bundle_hash(changed, groupings))
    assert len(hashes) == 9


def test_two_grants_compiling_to_the_same_line_keep_it_until_both_are_gone():
    world = synthetic.world(random.Random(3), 10, charters=2)
    charter = CharterFact(pk=1, slug="c", status=Charter.Status.ACTIVE, terms=world.charters[0].terms)
    fingerprint = sorted(charter.terms.active_shared)[0]
    action = sorted(charter.terms.active[synthetic.KIND])[0]
    purpose = sorted(charter.terms.active[synthetic.KIND][action]["purposes"] - {"*"})[0]
    twin = dataclasses.replace(
        world.grants[0],
        principal_id=7,
        role_id=None,
        charter_id=1,
        fingerprint=fingerprint,
        actions=frozenset({action}),
        purposes=frozenset({purpose}),
        status=Grant.Status.ACTIVE,
        held=False,
    )
    snapshot = Snapshot.build([twin, dataclasses.replace(twin, pk=twin.pk + 1)], [charter], {})
    empty = Snapshot.build([], [charter], {}).bundle_hash
    assert snapshot.index.enforce("user:7", "c", fingerprint, action, purpose)
    snapshot.drop_grant(twin.pk)
    assert snapshot.index.enforce("user:7", "c", fingerprint, action, purpose)
    snapshot.drop_grant(twin.pk + 1)
    assert not snapshot.index.enforce("user:7", "c", fingerprint, action, purpose)
    assert snapshot.bundle_hash == empty == Bundle((), (), bundle_hash([], [])).hash


def test_the_decision_guardrails_run_on_the_snapshot_without_a_database():
    """What `bench_decisions` times: evaluate() over a generated world, with no query (no database here)."""
    rng = random.Random(5)
    world = synthetic.world(rng, 2_000)
    snapshot = Snapshot.build(world.grants, world.charters, world.members)
    codes = set()
    for _ in range(2_000):
        principal, fingerprint, action, purpose = synthetic.request(rng, world)
        outcome = evaluate(principal, DecisionRequest(action, fingerprint, purpose), snapshot, synthetic.NOW)
        codes.add(outcome.code)
        if outcome.grant is not None:
            assert outcome.grant.fingerprint == fingerprint and action in outcome.grant.actions
    assert {None, "no_grant", "grant_expired", "grant_suspended", "charter_suspended"} <= codes, codes
