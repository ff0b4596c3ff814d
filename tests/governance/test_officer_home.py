"""The officer's home: one screen of what needs them now, each item linking to where they act, at the same cost in
queries with ten rows as with a thousand; and the background work's health, shared with /healthz."""

from __future__ import annotations

from datetime import timedelta

import time_machine
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.proposals import proposal_make
from accounts.services import actor_for
from audit import chain
from governance.models import AnomalyFinding, Grant
from governance.ops.attention import SHOWN, officer_attention
from tests.helpers import sign_in, spiked
from tests.world import in_review


def sections(user):
    return {section.key: section for section in officer_attention(user)}


def test_an_anomaly_shows_on_the_officers_home_with_its_incident_and_the_officer_acts_from_there(
    client, officer, make_grant, a_principal, atlas
):
    grant = make_grant()
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    [finding] = spiked(a_principal, atlas, at=now)
    finding.refresh_from_db()
    sign_in(client, officer)
    page = client.get("/").content.decode()
    incident_url = f"/governance/incidents/{finding.incident_id}/"
    assert "usage-spike (high) on grant" in page and f'href="{incident_url}"' in page
    assert f"Incident #{finding.incident_id} on northwind-evaluation" in page  # and its next clock
    closed = client.post(
        f"{incident_url}close/", {"resolution": "A load test the partner forgot to announce.", "release_holds": "on"}
    )
    assert closed.status_code == 302
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE  # released: closing the finding's incident gives the grant back
    assert "Incident #" not in client.get("/").content.decode()


def test_each_thing_waiting_is_listed_where_the_officer_acts_on_it(
    officer, second_officer, live_charter, make_request, charter_text
):
    request = make_request()
    version = in_review(yaml.safe_load(charter_text(lambda d: d["misuse"][0]["params"].update(factor=4))), officer)
    proposal = proposal_make(
        kind="charter_end", target="northwind-evaluation", reason="Study over.", by=actor_for(officer)
    )
    mine, theirs = sections(officer), sections(second_officer)
    assert [item.url for item in mine["grant_requests"].items] == [f"/grants/?grant={request.pk}"]
    # Olivia wrote the version and made the proposal: each waits for the other officer, not for her.
    assert mine["versions_to_review"].total == 0 and mine["proposals"].total == 0
    assert theirs["versions_to_review"].items[0].url == f"/registry/charters/northwind-evaluation/v{version.number}/"
    assert [item.url for item in theirs["proposals"].items] == [f"/proposals/{proposal.pk}/"]
    assert mine["unaccepted"].total == 0  # Northwind accepted the active version


def test_the_home_page_costs_the_same_queries_with_ten_rows_as_with_a_thousand(client, officer, make_grant):
    sign_in(client, officer)
    grant = make_grant()
    soon = timezone.now() + timedelta(days=3)

    def add(count):
        fields = {f.attname: getattr(grant, f.attname) for f in Grant._meta.concrete_fields if f.attname != "id"}
        requested = [Grant(**{**fields, "status": Grant.Status.REQUESTED}) for _ in range(count)]
        ending = [Grant(**{**fields, "valid_until": soon}) for _ in range(count)]
        Grant.objects.bulk_create(requested + ending)
        AnomalyFinding.objects.bulk_create(
            AnomalyFinding(
                grant=grant,
                rule="outside_window",
                name=f"off-hours-{n}-{count}",
                severity="low",
                window_start=timezone.now() - timedelta(minutes=n),
                window_end=timezone.now(),
                summary="requests outside the grant's window",
            )
            for n in range(count)
        )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    add(10)
    few = queries()
    add(990)
    many = queries()
    assert many == few
    shown = sections(officer)
    assert len(shown["grant_requests"].items) == SHOWN and shown["grant_requests"].total == 1000
    assert shown["expiring_grants"].total == 1000 and shown["findings"].total == 1000


def test_the_trail_health_is_on_the_home_and_in_healthz(client, officer, make_grant, a_principal, atlas):
    sign_in(client, officer)
    chain.seal()
    report = client.get("/healthz").json()
    assert report["trail"]["status"] == "ok" and report["trail"]["last_checkpoint_seconds"] < 60
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert client.get("/healthz").json()["trail"]["status"] == "warning"
        page = client.get("/").content.decode()
    assert "The sealer is behind or stopped" in page


def test_the_home_refreshes_in_place_with_only_the_part_that_changes(client, officer, make_request):
    sign_in(client, officer)
    page = client.get("/").content.decode()
    assert 'hx-get="/" hx-trigger="every 30s, refresh"' in page and "vendor/htmx-2.0.11/htmx.min.js" in page
    assert '"includeIndicatorStyles": false' in page  # htmx's injected stylesheet would break the CSP
    make_request()
    part = client.get("/", HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<div id="live"') and part.count('id="live"') == 1 and "<html" not in part
    assert 'Grant requests to decide <span class="count">1</span>' in part
