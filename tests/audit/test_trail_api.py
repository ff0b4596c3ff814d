"""The trail's API and pages: published keys, search scoped to a partner, exports through the API and the UI,
legal holds, and search plans that use indexes."""

import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit import chain
from audit.holds import evidence_intact, legal_hold
from audit.models import Checkpoint, Event, EvidenceBundle
from audit.trail import Actor, record
from tests.audit.test_chain import write
from tests.audit.test_exports import offline
from tests.conftest import TEST_PASSWORD

BY = Actor.system("api-test")


@pytest.fixture
def trail(db):
    write(5, partner="northwind")
    write(3, partner="helix")
    chain.seal()


def test_the_public_keys_are_published_to_anyone(client, trail):
    keys = client.get("/api/v1/audit/public-key").json()
    assert keys["algorithm"] == "Ed25519" and keys["current"] == chain.signer().key_id
    assert keys["keys"][0]["public_key"] == chain.encode(chain.signer().public_raw)


def test_partners_search_only_their_own_events(trail, api_as, a_admin, auditor, a_principal):
    own = api_as(a_admin).client.get("/api/v1/audit/events?partner=helix").json()
    assert own["results"] and {event["partner"] for event in own["results"]} == {"northwind"}
    everything = api_as(auditor).client.get("/api/v1/audit/events?partner=helix&action=thing").json()["results"]
    assert len(everything) == 3 and everything[0]["chain_seq"] == 8
    assert api_as(a_principal).client.get("/api/v1/audit/events").status_code == 403
    bad = api_as(auditor).client.get("/api/v1/audit/events?since=yesterday")
    assert bad.status_code == 400 and "ISO date" in bad.json()["error"]["fields"]["since"][0]


def test_a_partner_exports_its_slice_through_the_api_and_verifies_it_offline(trail, api_as, a_admin, tmp_path):
    caller = api_as(a_admin).client
    made = caller.post("/api/v1/audit/exports", {"format": "jsonl"}, format="json")
    assert made.status_code == 201 and made.json()["manifest"]["full"] == 5
    out = tmp_path / "trail.jsonl"
    out.write_bytes(b"".join(caller.get(made.json()["file"]).streaming_content))
    (tmp_path / "trail.jsonl.manifest.json").write_bytes(
        b"".join(caller.get(made.json()["manifest_url"]).streaming_content)
    )
    assert "helix" not in out.read_text()
    assert offline(out, chain.encode(chain.signer().public_raw)).returncode == 0

    denied = caller.post("/api/v1/audit/exports", {"partner": "helix"}, format="json")
    assert denied.status_code == 404
    assert Event.objects.filter(action="audit.export_denied", partner="northwind").exists()


def test_another_partners_export_cannot_be_downloaded(trail, api_as, auditor, b_admin):
    made = api_as(auditor).client.post("/api/v1/audit/exports", {"partner": "northwind"}, format="json").json()
    assert api_as(b_admin).client.get(made["file"]).status_code == 404


def test_an_auditor_searches_and_exports_in_the_web_ui(trail, client, auditor):
    client.login(username=auditor.username, password=TEST_PASSWORD)
    page = client.get("/trail/?partner=helix&outcome=success").content.decode()
    assert page.count("<code>thing.done</code>") == 3 and "#8" in page
    response = client.post("/trail/exports/", {"format": "csv", "partner": "helix"}, follow=True)
    assert "Exported 3 events" in response.content.decode()
    link = "/trail/exports/" + response.content.decode().split('href="/trail/exports/')[1].split('"')[0]
    download = client.get(link)
    assert download.status_code == 200 and b"chain_seq,digest" in b"".join(download.streaming_content)


def test_the_trail_pages_by_id_without_counting(db, client, auditor):
    write(120)
    client.login(username=auditor.username, password=TEST_PASSWORD)
    first = client.get("/trail/?action=thing").content.decode()
    older = first.split("before=")[1].split('"')[0]
    second = client.get(f"/trail/?action=thing&before={older}").content.decode()
    assert first.count("<code>thing.done</code>") == 50 and second.count("<code>thing.done</code>") == 50
    assert "Newest" in second


def test_a_legal_hold_freezes_records_and_their_events_in_the_chain(trail):
    with transaction.atomic():  # an event about a record (any model will do as the target)
        record(action="grant.suspended", actor=BY, partner="northwind", target=Checkpoint.objects.first())
    event = Event.objects.get(action="grant.suspended")
    hold = legal_hold(
        title="Incident 7",
        reason="Prompt-injection probe",
        records=[{"type": event.target_type, "id": event.target_id, "data": {"grant": 1}}],
        by=BY,
        partner="northwind",
    )
    assert evidence_intact(hold)
    assert len(hold.content["events"]) == 6 and all(
        e["event"]["partner"] == "northwind" for e in hold.content["events"]
    )
    placed = Event.objects.get(action="audit.legal_hold_placed")
    assert placed.details["content_hash"] == hold.content_hash
    chain.seal()
    assert chain.verify().intact
    held = EvidenceBundle.objects.get()
    with pytest.raises(Exception, match="append-only"):
        held.save()


@pytest.mark.postgres
def test_searches_use_indexes_on_postgresql(trail):
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    from audit.selectors import event_list

    queries = [
        event_list(partner="northwind"),
        event_list(action="grant."),
        event_list(actor="olivia"),
        event_list(since=timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a small table: ask whether an index *can* serve it
        for query in queries:
            sql, params = query[:50].query.sql_with_params()
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = json.dumps(cursor.fetchone()[0])
            assert "Index" in plan and "Seq Scan" not in plan, plan
        cursor.execute("SET enable_seqscan = on")
