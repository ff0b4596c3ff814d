"""The decision endpoints' own authentication (token and policy version in one query) and the one-statement
trail write: each refuses what the general path refuses, and loses nothing."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_revoke
from accounts.tokens import token_digest
from audit.models import Event
from audit.trail import Actor, event, record_standalone
from charters.services.policy_feed import policy_head
from governance.policy import live
from tests.conftest import SETUP, committing

DECISION = "/api/v1/decisions"


def ask(caller, atlas):
    return caller.client.post(DECISION, {"action": "infer", "asset": atlas, "purpose": "benchmarking"}, format="json")


@pytest.fixture
def gateway(api_as, a_principal):
    return api_as(a_principal)


def token_of(caller):
    return ApiToken.objects.get(digest=token_digest(caller.token))


def test_a_decision_costs_one_query_before_the_trail_write(gateway, make_grant, atlas):
    make_grant()
    ask(gateway, atlas)  # the first decision loads the snapshot and the principal
    with CaptureQueriesContext(connection) as queries:
        assert ask(gateway, atlas).json()["allow"] is True
    # Without Redis (the embedded mode) the counters are a table: those statements are the limits', not these.
    statements = [
        query["sql"].split()[0].upper()
        for query in queries.captured_queries
        if "usagecounter" not in query["sql"] and not query["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert statements == ["SELECT", "INSERT"], [query["sql"][:80] for query in queries.captured_queries]


def test_a_revoked_token_is_refused_by_the_decision_endpoint_at_once(gateway, make_grant, atlas):
    make_grant()
    assert ask(gateway, atlas).status_code == 200
    api_token_revoke(token=token_of(gateway), by=SETUP)
    refused = ask(gateway, atlas)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert Event.objects.filter(action="auth.token_rejected", outcome="failure").count() == 1


def test_an_expired_token_and_a_deactivated_principal_are_refused(gateway, make_grant, a_principal, atlas, api_as):
    make_grant()
    assert ask(gateway, atlas).status_code == 200
    ApiToken.objects.filter(pk=token_of(gateway).pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert ask(gateway, atlas).status_code == 401
    fresh = api_as(a_principal)
    assert ask(fresh, atlas).status_code == 200
    a_principal.is_active = False
    a_principal.save()
    assert ask(fresh, atlas).status_code == 401


def test_a_malformed_authorization_header_says_what_is_wrong(db, atlas):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two tokens")
    response = client.post(DECISION, {}, format="json")
    assert response.status_code == 401 and "single token" in response.json()["error"]["message"]


def test_the_head_read_with_the_token_spares_the_version_check_its_query(gateway, make_grant, atlas, monkeypatch):
    make_grant()
    ask(gateway, atlas)
    from charters.services import policy_feed

    def unexpected():
        raise AssertionError("the decision endpoint read the head a second time")

    monkeypatch.setattr(live, "policy_head", unexpected)
    assert ask(gateway, atlas).json()["allow"] is True
    assert policy_feed.policy_head() == live.current(policy_feed.policy_head()).version


# --- The trail in one statement ---------------------------------------------------------------------------


def _events(count, label):
    actor = Actor.system(label)
    return [event(action="decision.deny", actor=actor, partner="northwind", details={"n": n}) for n in range(count)]


def test_record_standalone_writes_every_event_in_order_across_statements(db):
    record_standalone(_events(2_500, "bulk"))
    written = list(Event.objects.filter(actor_id="bulk").values_list("details", flat=True))
    assert [details["n"] for details in written] == list(range(2_500))


@committing
def test_outside_a_transaction_the_events_are_committed_when_it_returns(db):
    assert not transaction.get_connection().in_atomic_block
    record_standalone(_events(3, "alone"))
    # Rolling back a later transaction cannot take them with it: they were their own transaction.
    with pytest.raises(RuntimeError), transaction.atomic():
        record_standalone(_events(1, "rolled-back"))
        raise RuntimeError
    assert Event.objects.filter(actor_id="alone").count() == 3
    assert not Event.objects.filter(actor_id="rolled-back").exists()


# --- `policy status` ----------------------------------------------------------------------------------------


def test_policy_status_names_the_feed_and_the_compiled_policy(make_grant, capsys):
    make_grant()
    call_command("policy", "status")
    out = capsys.readouterr().out
    assert f"Policy feed at change {policy_head().seq}." in out and "1 grants" in out
    call_command("policy", "status", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["feed"]["seq"] == policy_head().seq and report["grants"] == 1 and len(report["bundle"]) == 64


@pytest.mark.redis
def test_policy_status_flags_a_process_behind_the_feed(make_grant, capsys, settings):
    import redis

    make_grant()
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = live.report_prefix() + "test-host:4242"
    client.set(key, json.dumps({"version": 0, "bundle": "x", "grants": 0, "loaded_ms": 1, "reported_at": 0}), ex=30)
    try:
        call_command("policy", "status")
    finally:
        client.delete(key)
    out = capsys.readouterr().out
    assert "test-host:4242" in out and "BEHIND" in out and "lost its Redis subscription" in out


def test_policy_status_on_a_database_that_is_not_migrated_says_what_to_do(db, monkeypatch):
    from django.db import OperationalError

    from governance.management.commands import policy

    def missing():
        raise OperationalError("no such table: charters_policyhead")

    monkeypatch.setattr(policy, "policy_head", missing)
    with pytest.raises(CommandError, match="migrate"):
        call_command("policy", "status")


# --- `bench_decisions` ----------------------------------------------------------------------------------------


def test_bench_decisions_prints_one_object_per_engine_and_size(capsys):
    call_command("bench_decisions", "--grants", "50,200", "--decisions", "300", "--casbin-max", "50", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert [(row["engine"], row["grants"]) for row in rows] == [("accord", 50), ("casbin", 50), ("accord", 200)]
    for row in rows:
        assert set(row) == {"engine", "grants", "p50_us", "p99_us", "load_ms"}
        assert 0 < row["p50_us"] <= row["p99_us"]


def test_bench_decisions_refuses_sizes_it_cannot_read():
    with pytest.raises(CommandError, match="numbers separated by commas"):
        call_command("bench_decisions", "--grants", "100,lots")
