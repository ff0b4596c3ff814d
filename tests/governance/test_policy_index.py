"""The index gives Casbin's answer: a differential test over generated policies and requests."""

import random

from governance.policy.bundle import Bundle, enforcer_for
from governance.policy.index import PolicyIndex
from governance.policy.snapshot import compile_bundle

SUBJECTS = [f"user:{n}" for n in range(12)]
ROLES = [f"role:{n}" for n in range(5)]
DOMAINS = ["northwind-evaluation", "helix-finetune", "third-charter"]
OBJECTS = [f"{n:064x}" for n in range(8)]
ACTIONS = ["infer", "evaluate", "fine_tune", "download_weights", "export_outputs"]
PURPOSES = ["benchmarking", "safety-evaluation", "red-teaming", "research"]


def generated_policy(rng):
    policies = set()
    for _ in range(rng.randint(20, 80)):
        policies.add(
            (
                rng.choice(SUBJECTS + ROLES),
                rng.choice(DOMAINS),
                rng.choice(OBJECTS),
                rng.choice(ACTIONS),
                rng.choice([*PURPOSES, "*"]),
                # Deny lines are what suspensions and incident holds compile to: fewer than allows, but common.
                "deny" if rng.random() < 0.25 else "allow",
            )
        )
    groupings = set()
    for _ in range(rng.randint(0, 25)):
        member = rng.choice(SUBJECTS + ROLES)  # roles may hold roles: a hierarchy
        groupings.add((member, rng.choice(ROLES), rng.choice(DOMAINS)))
    return sorted(policies), sorted(groupings)


def casbin_enforcer(policies, groupings):
    return enforcer_for(Bundle(policies=tuple(policies), groupings=tuple(groupings), hash=""))


def test_the_index_and_casbins_enforcer_agree_on_10000_generated_requests():
    rng = random.Random(20261122)  # fixed: a failure can be replayed
    compared = allowed = 0
    for _trial in range(100):
        policies, groupings = generated_policy(rng)
        reference, index = casbin_enforcer(policies, groupings), PolicyIndex(policies, groupings)
        for _ in range(100):
            if rng.random() < 0.5 and policies:
                # Aim at existing lines half the time, so that allows and deny-overrides are well represented.
                sub, dom, obj, act, purpose, _ = rng.choice(policies)
                if sub.startswith("role:"):
                    sub = rng.choice(SUBJECTS)
                if purpose == "*" or rng.random() < 0.2:
                    purpose = rng.choice(PURPOSES)
            else:
                sub, dom, obj, act, purpose = (
                    rng.choice(SUBJECTS),
                    rng.choice(DOMAINS),
                    rng.choice(OBJECTS),
                    rng.choice(ACTIONS),
                    rng.choice(PURPOSES),
                )
            expected = reference.enforce(sub, dom, obj, act, purpose)
            assert index.enforce(sub, dom, obj, act, purpose) == expected, (
                sub,
                dom,
                obj,
                act,
                purpose,
                policies,
                groupings,
            )
            compared += 1
            allowed += expected
    assert compared == 10_000
    # Both answers must be well represented, or the agreement would prove little.
    assert 1_000 < allowed < 9_000, allowed


def test_a_deny_line_overrides_an_allow_reached_through_a_role():
    policies = [
        ("role:eval", "d", "o", "infer", "*", "allow"),
        ("user:1", "d", "o", "infer", "benchmarking", "deny"),
    ]
    groupings = [("user:1", "role:eval", "d"), ("user:2", "role:eval", "d")]
    index, reference = PolicyIndex(policies, groupings), casbin_enforcer(policies, groupings)
    for sub, purpose in [("user:1", "benchmarking"), ("user:1", "research"), ("user:2", "benchmarking")]:
        assert index.enforce(sub, "d", "o", "infer", purpose) == reference.enforce(sub, "d", "o", "infer", purpose)
    assert index.enforce("user:1", "d", "o", "infer", "benchmarking") is False
    assert index.enforce("user:2", "d", "o", "infer", "benchmarking") is True


def test_a_role_link_holds_only_in_its_own_domain():
    policies = [("role:eval", "d1", "o", "infer", "p", "allow"), ("role:eval", "d2", "o", "infer", "p", "allow")]
    index = PolicyIndex(policies, [("user:1", "role:eval", "d1")])
    assert index.enforce("user:1", "d1", "o", "infer", "p") is True
    assert index.enforce("user:1", "d2", "o", "infer", "p") is False


def test_the_index_and_casbin_agree_on_a_bundle_compiled_from_real_grants(make_grant, partner_a, a_principal):
    from itertools import product

    from governance.grants.services import grant_suspend
    from governance.models import PartnerRole
    from tests.conftest import SETUP

    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    role.members.add(a_principal)
    make_grant(principal=None, partner_role=role, purposes=["benchmarking"])
    grant_suspend(grant=make_grant(actions=["evaluate"]), by=SETUP, reason="check")
    make_grant(actions=["infer"], purposes=["safety-evaluation"])
    bundle = compile_bundle()
    reference, index = enforcer_for(bundle), PolicyIndex(bundle.policies, bundle.groupings)
    lines = bundle.policies
    subjects = {f"user:{a_principal.pk}", "user:999"}
    space = product(
        subjects,
        {line[1] for line in lines},
        {line[2] for line in lines},
        {line[3] for line in lines},
        {line[4] for line in lines} | {"research"},
    )
    answers = [(request, reference.enforce(*request)) for request in space]
    assert any(allow for _, allow in answers) and not all(allow for _, allow in answers)
    assert all(index.enforce(*request) == allow for request, allow in answers)
