"""The usage roll-up counts the trail's decisions per minute, hour and day in chain order, once each, whatever order
transactions commit in and however often its task runs; the usage API reads it (and the quota counters), scoped to
the caller's partner."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from audit import chain
from audit.models import Event
from audit.trail import Actor, record
from governance.decisions.services import DecisionRequest, decide
from governance.models import UsageCount, UsageTotal
from governance.usage.services import interval_start, usage_rollup
from tests.conftest import committing
from tests.helpers import migrate_to, migrate_to_latest

UNKNOWN = "0" * 64


def ask(principal, asset, times=1, *, action="infer", purpose="benchmarking"):
    return [decide(principal, DecisionRequest(action, asset, purpose)) for _ in range(times)]


def counts(interval="minute"):
    return {
        (row.grant_id, row.action, row.allowed, row.code): row.count
        for row in UsageCount.objects.filter(interval=interval)
    }


def test_allows_and_denies_by_code_are_counted_per_grant_and_per_principal_asset_and_action(
    make_grant, a_principal, atlas
):
    grant = make_grant()
    ask(a_principal, atlas, 3)
    ask(a_principal, atlas, action="fine_tune")  # no grant covers it: a deny without one
    ask(a_principal, UNKNOWN)
    chain.seal()
    assert usage_rollup().events == 5
    for interval in ("minute", "hour", "day"):
        assert counts(interval) == {
            (grant.pk, "infer", True, ""): 3,
            (None, "fine_tune", False, "action_not_permitted"): 1,
            (None, "infer", False, "no_grant"): 1,
        }
    row = UsageCount.objects.get(interval="hour", allowed=True)
    assert (row.partner, row.principal, row.principal_label, row.asset) == (
        "northwind",
        str(a_principal.pk),
        a_principal.username,
        atlas,
    )
    assert row.start == interval_start(timezone.now(), "hour")


def test_a_second_run_counts_nothing_again_and_unsealed_decisions_wait_for_the_sealer(make_grant, a_principal, atlas):
    make_grant()
    ask(a_principal, atlas, 2)
    chain.seal()
    usage_rollup()
    assert usage_rollup().events == 0  # a redelivered run
    ask(a_principal, atlas)
    assert usage_rollup().events == 0  # not sealed yet: not in the chain
    chain.seal()
    assert usage_rollup().events == 1
    assert sum(counts().values()) == 3


def test_each_partners_totals_are_the_sums_of_its_counts_in_every_interval_counted_once(
    make_grant, a_principal, b_principal, atlas
):
    make_grant()
    ask(a_principal, atlas, 3)
    ask(a_principal, atlas, action="fine_tune")
    ask(b_principal, atlas, 2)  # Helix has no grant: denies
    chain.seal()
    usage_rollup()
    usage_rollup()  # a redelivered run
    for interval in ("minute", "hour", "day"):
        counted = UsageCount.objects.filter(interval=interval)
        summed = counted.values("partner", "allowed", "code").annotate(n=Sum("count"))
        totals = UsageTotal.objects.filter(interval=interval)
        assert sorted((row.partner, row.allowed, row.code, row.count) for row in totals) == sorted(
            (row["partner"], row["allowed"], row["code"], row["n"]) for row in summed
        )
    assert UsageTotal.objects.get(interval="day", partner="helix").count == 2


@committing
def test_the_migration_that_adds_totals_sums_what_was_counted_before_them(make_grant, a_principal, atlas):
    make_grant()
    ask(a_principal, atlas, 3)
    chain.seal()
    usage_rollup()
    try:
        migrate_to(("governance", "0022_usage_rollup"))
        migrate_to(("governance", "0023_usage_totals"))
        day = UsageTotal.objects.get(interval="day")
        assert (day.partner, day.allowed, day.count) == ("northwind", True, 3)
        assert UsageTotal.objects.count() == 3  # a minute, an hour and a day
    finally:
        migrate_to_latest()


def _decision(label: str) -> None:
    record(action="decision.allow", actor=Actor.system(label), partner="northwind", details={"action": "infer"})


@pytest.mark.postgres  # two transactions open at once, which SQLite's in-memory test database cannot hold
@committing
def test_an_event_that_commits_after_a_later_one_is_counted_once_and_two_runs_at_once_count_each_once(db):
    """Commit order is not id order: an event whose transaction commits late has a lower id than one already
    counted. The roll-up reads the chain, so it is counted when it is sealed; "ids above the last one" would miss it."""
    inserted, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                _decision("late")
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    with transaction.atomic():
        _decision("early")  # a higher id, committed first
    chain.seal()
    assert usage_rollup().events == 1
    release.set()
    writer.join(10)
    late = Event.objects.get(actor_id="late")
    assert late.pk < Event.objects.get(actor_id="early").pk and late.chain_seq is None
    chain.seal()

    runs: list[int] = []

    def run() -> None:
        try:
            runs.append(usage_rollup().events)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(runs) == [0, 1]  # the second run waited for the first, then found nothing left
    days = UsageCount.objects.filter(interval="day")
    assert sorted(days.values_list("principal", "count")) == [("early", 1), ("late", 1)]


def test_minute_rows_go_after_two_days_and_hour_rows_after_three_months(make_grant, a_principal, atlas):
    make_grant()
    ask(a_principal, atlas)
    chain.seal()
    usage_rollup()
    assert usage_rollup(now=timezone.now() + timedelta(days=3)).pruned == 1
    assert usage_rollup(now=timezone.now() + timedelta(days=100)).pruned == 1
    assert list(UsageCount.objects.values_list("interval", flat=True)) == ["day"]


@pytest.fixture
def counted(make_grant, a_principal, atlas):
    grant = make_grant()
    ask(a_principal, atlas, 4)
    ask(a_principal, atlas, action="fine_tune")
    chain.seal()
    usage_rollup()
    return grant


def test_the_usage_api_gives_a_series_with_deny_rates_and_codes(api_as, officer, counted):
    answer = api_as(officer).client.get("/api/v1/usage?interval=hour").json()
    assert answer["interval"] == "hour" and len(answer["series"]) in (24, 25)
    [busy] = [point for point in answer["series"] if point["allowed"] or point["denied"]]
    assert (busy["allowed"], busy["denied"], busy["deny_rate"]) == (4, 1, 0.2)
    assert busy["denied_by_code"] == {"action_not_permitted": 1}
    by_grant = api_as(officer).client.get(f"/api/v1/usage?interval=day&grant={counted.pk}").json()["series"]
    assert sum(point["allowed"] for point in by_grant) == 4 and sum(point["denied"] for point in by_grant) == 0


def test_a_partner_admin_reads_their_own_partners_usage_only(api_as, a_admin, b_admin, counted):
    mine = api_as(a_admin).client.get("/api/v1/usage?interval=day").json()["series"]
    assert sum(point["allowed"] for point in mine) == 4
    theirs = api_as(b_admin).client.get("/api/v1/usage?interval=day").json()["series"]
    assert sum(point["allowed"] + point["denied"] for point in theirs) == 0
    asked = api_as(b_admin).client.get(f"/api/v1/usage?grant={counted.pk}")
    missing = api_as(b_admin).client.get("/api/v1/usage?grant=999999")
    assert asked.status_code == missing.status_code == 400
    assert asked.json()["error"]["fields"]["grant"] == [f"No grant #{counted.pk} among those you can see."]
    assert "northwind" not in asked.content.decode()


def test_a_series_too_long_or_backwards_is_a_400_saying_what_to_ask_instead(api_as, officer, db):
    client = api_as(officer).client
    long = client.get("/api/v1/usage?interval=minute&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z")
    assert long.status_code == 400 and "ask for a larger interval" in long.json()["error"]["fields"]["interval"][0]
    backwards = client.get("/api/v1/usage?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z")
    assert backwards.status_code == 400 and backwards.json()["error"]["fields"]["since"]
    assert client.get("/api/v1/usage?interval=week").status_code == 400


def test_quotas_come_from_the_counters_the_decision_point_enforces(
    api_as, a_admin, b_admin, make_grant, a_principal, atlas
):
    grant = make_grant(daily_quota=10)
    ask(a_principal, atlas, 3)
    [quota] = api_as(a_admin).client.get("/api/v1/usage/quotas").json()["results"]
    assert (quota["grant"], quota["used_today"], quota["left_today"], quota["used_this_month"]) == (grant.pk, 3, 7, 3)
    assert quota["used_this_minute"] == 3 and quota["principal"] == a_principal.username
    assert api_as(b_admin).client.get("/api/v1/usage/quotas").json()["results"] == []


def test_the_usage_page_charts_the_roll_up_with_its_numbers_a_click_away(client, officer, a_admin, counted):
    from tests.helpers import sign_in

    sign_in(client, officer)
    page = client.get("/governance/usage/?span=24h&partner=northwind").content.decode()
    assert 'id="usage-data"' in page and "vendor/chartjs-4.6.1/chart.umd.min.js" in page
    assert "4 allowed, 1 denied" in page and "<code>action_not_permitted</code>" in page
    csv = client.get("/governance/usage/?span=24h&format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    rows = csv.content.decode().splitlines()
    assert rows[0] == "start,allowed,denied,deny_rate,denied_by_code"
    assert any(row.endswith(",4,1,0.2,action_not_permitted=1") for row in rows[1:])
    assert "is not a span" in client.get("/governance/usage/?span=1y", follow=True).content.decode()
    sign_in(client, a_admin)  # a partner admin: their own partner's, and no one else's
    assert "4 allowed, 1 denied" in client.get("/governance/usage/").content.decode()


def test_the_usage_page_ranks_grants_by_the_share_of_their_daily_quota_used_from_the_counters(
    client, officer, make_grant, a_principal, atlas, settings
):
    from tests.faults import LoopbackPeer
    from tests.helpers import sign_in

    tight = make_grant(actions=["infer"], daily_quota=10)
    roomy = make_grant(actions=["evaluate"], daily_quota=1000)
    ask(a_principal, atlas, 5, action="evaluate")
    ask(a_principal, atlas, 3)
    chain.seal()
    usage_rollup()
    ask(a_principal, atlas, 1)  # after the roll-up: the counters have it, the roll-up not yet
    sign_in(client, officer)
    page = client.get("/governance/usage/").content.decode()
    assert page.index(f"?grant={tight.pk}") < page.index(f"?grant={roomy.pk}")  # the nearest its limit first
    assert "4 of 10 (40 %)" in page and "5 of 1000 (" in page and "the counters the decision point" in page
    peer = LoopbackPeer()  # Redis refuses: the roll-up's numbers stand, and the page says so
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{peer.port}/0"
        page = client.get("/governance/usage/").content.decode()
    finally:
        peer.close()
    assert "3 of 10 (30 %)" in page and "The quota counters (Redis) did not answer" in page
