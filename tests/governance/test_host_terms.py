"""A charter's host-only terms (its misuse rules' thresholds and windows, its internal notification lists) stay the
host's: the partner accepts the agreement without them and its hash covers only that; partner pages, API answers
and the partner's slice of the trail never show them; host-scoped events carry them."""

from __future__ import annotations

import json

import pytest
import time_machine
import yaml
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from charters import documents
from charters.services.charters import charter_apply
from governance.incidents import services as incidents
from governance.models import Incident
from tests.helpers import sign_in, spiked
from tests.world import activate

# What the Northwind example's host-only terms say (charters/examples/northwind-evaluation.yaml).
HOST_ONLY = ["window_minutes", "min_uses", "security@meridian.example", "legal@meridian.example"]


def shows_host_terms(text: str) -> list[str]:
    return [term for term in HOST_ONLY if term in text]


def test_the_agreement_leaves_out_exactly_the_host_only_terms(charter_text):
    document = yaml.safe_load(charter_text())
    agreement = documents.agreement_of(document)
    assert [rule["name"] for rule in agreement["misuse"]] == [rule["name"] for rule in document["misuse"]]
    assert all("params" not in rule for rule in agreement["misuse"])
    assert "notify" not in agreement["incident_response"] and "notify" not in agreement["playbook"]
    assert agreement["incident_response"]["remediation_hours"] == 72  # the rest of the section stays
    assert documents.host_terms_of(document) == {
        "misuse": {
            "usage-spike": {"factor": 5, "window_minutes": 60},
            "export-probing": {"count": 3, "window_minutes": 30},
        },
        "incident_response.notify": ["security@meridian.example", "legal@meridian.example"],
        "playbook.notify": ["security@meridian.example"],
    }
    assert shows_host_terms(json.dumps(agreement)) == []


def test_changing_a_threshold_changes_the_versions_hash_but_not_the_agreements(
    charter_text, officer, second_officer, a_admin
):
    first = activate(charter_text(), officer, second_officer, accept_by=a_admin)
    tighter = charter_apply(
        text=charter_text(lambda document: document["misuse"][0]["params"].update(factor=3)), by=actor_for(officer)
    )
    assert tighter.content_hash != first.content_hash
    assert tighter.agreement_hash == first.agreement_hash
    ack = first.acknowledgements.get()
    assert (ack.content_hash, ack.covers) == (first.agreement_hash, "agreement")


def test_partner_pages_and_answers_show_the_agreement_and_officers_the_whole(
    client, api_as, charter_text, officer, second_officer, a_admin
):
    activate(charter_text(), officer, second_officer)
    charter_apply(text=charter_text(lambda d: d["misuse"][0]["params"].update(factor=3)), by=actor_for(officer))
    pages = [
        "/registry/charters/northwind-evaluation/",
        "/registry/charters/northwind-evaluation/v1/",
        "/registry/charters/northwind-evaluation/diff/?a=1&b=2",
        "/registry/charters/northwind-evaluation/accept/",
    ]
    sign_in(client, a_admin)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert shows_host_terms(response.content.decode()) == [], page
    partner = api_as(a_admin).client
    answer = partner.get("/api/v1/charters/northwind-evaluation/versions/1").json()
    assert shows_host_terms(json.dumps(answer)) == [] and answer["content_hash"] is None
    listed = partner.get("/api/v1/charters").json()["results"][0]
    assert listed["active_content_hash"] is None and listed["active_agreement_hash"] == answer["agreement_hash"]

    sign_in(client, officer)
    assert shows_host_terms(client.get(pages[1]).content.decode()) == [t for t in HOST_ONLY if t != "min_uses"]
    whole = api_as(officer).client.get("/api/v1/charters/northwind-evaluation/versions/1").json()
    assert whole["document"]["misuse"][0]["params"] == {"factor": 5, "window_minutes": 60}
    assert whole["content_hash"] is not None


@pytest.fixture
def now():
    return timezone.now().replace(minute=30, second=0, microsecond=0)


def test_the_partners_slice_of_the_trail_holds_no_host_only_term_and_host_events_do(
    live_charter, make_grant, a_principal, a_admin, atlas, now, api_as
):
    make_grant()
    [finding] = spiked(a_principal, atlas, at=now)
    with time_machine.travel(now, tick=False):
        incidents.incident_run(Incident.objects.get().pk)
    slice_ = Event.objects.filter(partner="northwind")
    assert {"charter_version.acknowledged", "grant.suspended", "incident.declared", "incident.step_done"} <= set(
        slice_.values_list("action", flat=True)
    )
    held = json.dumps([[event.action, event.reason, event.details] for event in slice_], default=str)
    assert shows_host_terms(held) == [] and "floor of 20" not in held and live_charter.content_hash not in held
    read_by_partner = api_as(a_admin).client.get("/api/v1/audit/events?limit=500").content.decode()
    assert shows_host_terms(read_by_partner) == []

    host = Event.objects.filter(partner="")
    found = host.get(action="anomaly.found")
    assert found.details["min_uses"] == 20 and found.reason.endswith(f"{finding.summary}.")
    assert host.get(action="incident.responders_told").details["told"] == [
        "legal@meridian.example",
        "security@meridian.example",
    ]
    written = host.filter(action="charter_version.host_terms_written").first()
    assert written is not None and written.details["content_hash"] == live_charter.content_hash
    assert written.details["host_terms"]["misuse"]["usage-spike"] == {"factor": 5, "window_minutes": 60}
