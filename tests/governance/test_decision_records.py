"""Decisions read back from the trail (governance/decisions/records.py): what the decision point wrote, found by each
reader's query among many, through the indexes audit keeps for them."""

import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import chain
from audit.context import request_context
from audit.models import DECISION_ACTIONS, Event
from audit.trail import Actor, event, record_standalone
from governance.decisions import records
from governance.decisions.services import DecisionRequest, decide
from governance.usage import selectors as usage
from governance.usage.services import usage_rollup

GRANTS = range(9000, 9200)
PRINCIPALS = [str(pk) for pk in range(7000, 7050)]
ASSETS = [f"{number:064x}" for number in range(40)]


def recorded(
    *, at, principal="7000", allow=True, asset=ASSETS[0], action="infer", codes=(), grant_id=None, address=None
):
    """A decision event as the decision point writes it, at ``at``."""
    with request_context(request_id="", client_address=address):
        written = records.decision_event(
            actor=Actor(type=Event.ActorType.PRINCIPAL, id=principal, label=f"principal-{principal}"),
            partner="northwind",
            decision_id=uuid.uuid4().hex,
            allow=allow,
            action=action,
            asset=asset,
            purpose="benchmarking",
            codes=list(codes),
            reason="" if allow else "Denied.",
            bundle="b" * 64,
            grant_id=grant_id,
        )
    written.occurred_at = at
    return written


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def busy_trail(db, now):
    """Thirty days of trail: 4,000 decisions of 50 principals over 200 grants and 40 assets, between as many
    events of other kinds. Returns the decision events in the order written."""
    rng = random.Random(20)
    decisions, others = [], []
    for number in range(4000):
        at = now - timedelta(days=30) + timedelta(days=30) * number / 4000
        allow = rng.random() < 0.75
        decisions.append(
            recorded(
                at=at,
                principal=rng.choice(PRINCIPALS),
                allow=allow,
                asset=rng.choice(ASSETS),
                action=rng.choice(["infer", "evaluate", "export_outputs"]),
                codes=() if allow else [rng.choice(["no_grant", "grant_expired", "action_not_permitted"])],
                grant_id=rng.choice(GRANTS) if allow else None,
                address=f"10.0.{rng.randrange(4)}.1",
            )
        )
        other = event(action="grant.approved", actor=Actor.system("test-setup"), details={"grant": number})
        other.occurred_at = at
        others.append(other)
    record_standalone([written for pair in zip(decisions, others, strict=True) for written in pair])
    return list(Event.objects.filter(action__in=DECISION_ACTIONS).order_by("id"))


def plans_of(call):
    """The plan PostgreSQL chooses for each trail query ``call`` runs, with statistics of the rows as they are."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    with CaptureQueriesContext(connection) as queries:
        call()
    plans = []
    for query in queries.captured_queries:
        if "audit_event" in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, "the call ran no query of the trail"
    return plans


def test_a_decision_reads_back_as_the_decision_point_wrote_it(make_grant, a_principal, atlas):
    grant = make_grant()
    with request_context(request_id="", client_address="203.0.113.7"):
        allowed = decide(a_principal, DecisionRequest("infer", atlas, "safety-evaluation"))
        denied = decide(a_principal, DecisionRequest("fine_tune", atlas, "safety-evaluation"))
    allow = records.decision_by_id(allowed.decision_id)
    assert (allow.allow, allow.principal, allow.principal_label, allow.partner) == (
        True,
        str(a_principal.pk),
        a_principal.username,
        "northwind",
    )
    assert (allow.action, allow.asset, allow.purpose, allow.codes, allow.reason) == (
        "infer",
        atlas,
        "safety-evaluation",
        (),
        "",
    )
    assert (allow.grant_id, allow.bundle, allow.client_address) == (grant.pk, allowed.bundle, "203.0.113.7")
    deny = records.decision_by_id(denied.decision_id)
    assert (deny.allow, deny.action, deny.grant_id) == (False, "fine_tune", None)
    assert deny.codes == ("action_not_permitted",) and deny.reason == denied.reasons[0]["message"]
    assert deny.event_id > allow.event_id and deny.occurred_at >= allow.occurred_at


def test_explain_finds_the_one_decision_among_thousands_and_none_for_an_unknown_id(busy_trail):
    wanted = busy_trail[2345]
    found = records.decision_by_id(wanted.details["decision_id"])
    assert found is not None and found.event_id == wanted.pk
    assert records.decision_by_id(uuid.uuid4().hex) is None
    assert records.decisions_by_event([wanted.pk, busy_trail[7].pk])[wanted.pk].decision_id == found.decision_id


def test_a_grants_uses_and_addresses_are_its_allows_in_the_window(db, now):
    grant, other = GRANTS[0], GRANTS[1]
    record_standalone(
        [
            recorded(at=now - timedelta(minutes=50), grant_id=grant, address="10.0.0.1"),
            recorded(at=now - timedelta(minutes=10), grant_id=grant, address="10.0.0.2"),
            recorded(at=now - timedelta(minutes=5), grant_id=grant),  # no address: counted, no address to add
            recorded(at=now - timedelta(minutes=5), grant_id=other, address="10.0.0.9"),
            # A quota's deny names its grant, but is no use of it.
            recorded(
                at=now - timedelta(minutes=5),
                allow=False,
                codes=["quota_exhausted"],
                grant_id=grant,
                address="10.0.0.8",
            ),
            recorded(at=now - timedelta(hours=2), grant_id=grant, address="10.0.0.3"),
        ]
    )
    hour = {"since": now - timedelta(hours=1), "until": now}
    assert records.grant_client_addresses(grant, **hour) == {"10.0.0.1", "10.0.0.2"}
    # The anomaly checks count uses from the roll-up of the same events (governance/usage).
    chain.seal()
    usage_rollup()
    assert usage.allowed_count(grant, **hour) == 3
    assert usage.allowed_count(grant, since=now - timedelta(minutes=50), until=now - timedelta(minutes=10)) == 1


def test_denies_count_by_principal_and_asset_and_then_by_action_or_code(db, now):
    asker = {"principals": ["7000", "7001"], "asset": ASSETS[0]}
    at = now - timedelta(minutes=5)
    record_standalone(
        [
            recorded(at=at, allow=False, action="export_outputs", codes=["action_not_permitted"]),
            recorded(at=at, principal="7001", allow=False, codes=["grant_expired"]),
            recorded(at=at, allow=False, codes=["not_yet_valid"]),
            recorded(at=at, principal="7002", allow=False, codes=["grant_expired"]),  # another principal
            recorded(at=at, allow=False, asset=ASSETS[1], codes=["grant_expired"]),  # another asset
            recorded(at=at, action="export_outputs"),  # an allow
            recorded(at=now - timedelta(hours=2), allow=False, codes=["grant_expired"]),  # before the window
        ]
    )
    window = {"since": now - timedelta(hours=1), "until": now}
    chain.seal()
    usage_rollup()
    assert usage.denied_count(**asker, **window) == 3
    assert usage.denied_count(**asker, **window, action="export_outputs") == 1
    assert usage.denied_count(**asker, **window, codes=("not_yet_valid", "grant_expired")) == 2


def test_use_tallies_group_allows_by_grant_and_denies_by_asker(db, now):
    grant = GRANTS[0]
    record_standalone(
        [
            recorded(at=now - timedelta(days=40), grant_id=grant),  # before the 30 days: only its last use counts
            recorded(at=now - timedelta(days=2), grant_id=grant),
            recorded(at=now - timedelta(days=1), grant_id=grant),
            recorded(at=now - timedelta(days=1), allow=False, codes=["no_grant"]),
            recorded(at=now - timedelta(days=1), allow=False, codes=["rate_limited"], grant_id=grant),
            recorded(at=now - timedelta(days=1), principal="7009", allow=False, codes=["no_grant"]),  # not asked for
        ]
    )
    tallies = records.use_tallies(
        grant_ids=[grant],
        principals=["7000"],
        assets=[ASSETS[0]],
        born=now - timedelta(days=60),
        since=now - timedelta(days=30),
        until=now,
    )
    by_kind = {(tally.allow, tally.grant_id): tally for tally in tallies}
    assert set(by_kind) == {(True, grant), (False, None), (False, grant)}
    assert by_kind[True, grant].recent == 2 and by_kind[True, grant].last == now - timedelta(days=1)
    assert (by_kind[False, None].principal, by_kind[False, None].asset, by_kind[False, None].recent) == (
        "7000",
        ASSETS[0],
        1,
    )


@pytest.mark.postgres
def test_each_readers_query_uses_its_decision_index(busy_trail, now):
    month = {"since": now - timedelta(days=30), "until": now}
    wanted = busy_trail[1234].details["decision_id"]
    [explain] = plans_of(lambda: records.decision_by_id(wanted))
    assert "audit_decision_id_idx" in explain and "Seq Scan" not in explain
    [addresses] = plans_of(lambda: records.grant_client_addresses(GRANTS[3], **month))
    assert "audit_decision_grant_idx" in addresses
    [evidence] = plans_of(
        lambda: records.use_tallies(
            grant_ids=GRANTS[:3], principals=PRINCIPALS[:2], assets=ASSETS[:2], born=month["since"], **month
        )
    )
    assert "audit_decision_grant_idx" in evidence and "audit_decision_asker_idx" in evidence


def test_the_decision_indexes_hold_exactly_the_actions_the_decision_point_writes(db):
    written = recorded(at=timezone.now())
    denied = recorded(at=timezone.now(), allow=False, codes=["no_grant"])
    assert (written.action, denied.action) == DECISION_ACTIONS
    for index in Event._meta.indexes:
        if index.name.startswith("audit_decision_"):
            assert index.condition.children == [("action__in", DECISION_ACTIONS)]
