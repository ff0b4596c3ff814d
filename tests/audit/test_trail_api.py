"""The trail's API and pages: published keys, search scoped to a partner, exports through the API and the UI,
legal holds, and search plans that use indexes."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit import chain, exports
from audit.holds import evidence_intact, legal_hold_place
from audit.models import Checkpoint, Event, EvidenceBundle, ExportJob
from audit.trail import Actor, record
from tests.audit.trail_helpers import ACTION, offline, superuser_sql, write
from tests.helpers import sign_in

BY = Actor.system("api-test")


@pytest.fixture
def trail(db):
    write(5, partner="northwind")
    write(3, partner="helix")
    chain.seal()


def test_the_public_keys_are_published_to_anyone(client, trail):
    keys = client.get("/api/v1/audit/public-key").json()
    assert keys["algorithm"] == "Ed25519" and keys["current"] == chain.signer().key_id
    assert keys["keys"][0]["public_key"] == chain.signer().public_key


def test_partners_search_only_their_own_events(trail, api_as, a_admin, auditor, a_principal):
    own = api_as(a_admin).client.get("/api/v1/audit/events?partner=helix").json()
    assert own["results"] and {event["partner"] for event in own["results"]} == {"northwind"}
    everything = api_as(auditor).client.get("/api/v1/audit/events?partner=helix&action=session.").json()["results"]
    assert len(everything) == 3 and everything[0]["chain_seq"] == 8
    assert api_as(a_principal).client.get("/api/v1/audit/events").status_code == 403
    bad = api_as(auditor).client.get("/api/v1/audit/events?since=yesterday")
    assert bad.status_code == 400 and "Datetime has wrong format" in bad.json()["error"]["fields"]["since"][0]
    impossible = api_as(auditor).client.get("/api/v1/audit/events?until=2026-02-30T00:00:00Z")
    assert impossible.status_code == 400 and "until" in impossible.json()["error"]["fields"]
    assert "client_address" in everything[0] and "client_address" not in own["results"][0]


def test_a_partner_exports_its_slice_through_the_api_and_verifies_it_offline(
    trail, api_as, a_admin, tmp_path, django_capture_on_commit_callbacks
):
    caller = api_as(a_admin).client
    with django_capture_on_commit_callbacks() as queued:
        made = caller.post("/api/v1/audit/exports", {"format": "jsonl"}, format="json")
    assert made.status_code == 202 and made.json()["status"] == "queued" and len(queued) == 1
    status_url = made.json()["url"]
    assert caller.get(status_url).json()["status"] == "queued"
    assert exports.export_run(made.json()["id"]).status == "done"  # what the worker runs
    done = caller.get(status_url).json()
    assert done["status"] == "done" and done["manifest"]["full"] == 5
    out = tmp_path / "trail.jsonl"
    out.write_bytes(b"".join(caller.get(done["file"]).streaming_content))
    (tmp_path / "trail.jsonl.manifest.json").write_bytes(b"".join(caller.get(done["manifest_url"]).streaming_content))
    assert "helix" not in out.read_text()
    assert offline(out, chain.signer().public_key).returncode == 0
    assert exports.export_run(made.json()["id"]).status == "done"  # a redelivered task changes nothing

    denied = caller.post("/api/v1/audit/exports", {"partner": "helix"}, format="json")
    assert denied.status_code == 404
    assert Event.objects.filter(action="audit.export_denied", partner="northwind").exists()
    empty = caller.post(
        "/api/v1/audit/exports", {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, format="json"
    )
    assert empty.status_code == 400 and "must come before" in empty.json()["error"]["message"]


def test_another_partners_export_cannot_be_seen_or_downloaded(trail, api_as, auditor, b_admin):
    made = api_as(auditor).client.post("/api/v1/audit/exports", {"partner": "northwind"}, format="json").json()
    exports.export_run(made["id"])
    other = api_as(b_admin).client
    assert other.get(made["url"]).status_code == 404 and other.get(made["url"] + "/file").status_code == 404


def test_an_export_that_finds_nothing_fails_saying_why(trail, api_as, auditor):
    caller = api_as(auditor).client
    made = caller.post("/api/v1/audit/exports", {"partner": "nobody"}, format="json").json()
    assert exports.export_run(made["id"]).status == "failed"
    failed = caller.get(made["url"]).json()
    assert failed["status"] == "failed" and "No sealed event matches" in failed["error"]


def test_an_auditor_searches_and_exports_in_the_web_ui(trail, client, auditor):
    sign_in(client, auditor)
    page = client.get("/trail/?partner=helix&outcome=success").content.decode()
    assert page.count(f"<code>{ACTION}</code>") == 3 and "#8" in page
    response = client.post("/trail/exports/", {"format": "csv", "partner": "helix"}, follow=True)
    # While it is written, only the list of exports refreshes itself: never the page and the forms on it.
    waiting = response.content.decode()
    assert "Export queued" in waiting and 'hx-trigger="every 3s"' in waiting and 'http-equiv="refresh"' not in waiting
    assert 'hx-trigger="every 3s"' in client.get("/trail/?part=exports").content.decode()
    exports.export_run(ExportJob.objects.get().pk)  # what the worker runs
    part = client.get("/trail/?part=exports").content.decode()
    assert "Done" in part and "hx-trigger" not in part and "<form" not in part  # the asking stops
    page = client.get("/trail/").content.decode()
    assert "Done" in page and "hx-trigger" not in page
    link = "/trail/exports/" + page.split('href="/trail/exports/')[1].split('"')[0]
    download = client.get(link)
    assert download.status_code == 200 and b'"chain_seq","digest"' in b"".join(download.streaming_content)


def test_the_trail_pages_by_id_without_counting(db, client, auditor):
    write(120)
    sign_in(client, auditor)
    first = client.get(f"/trail/?action={ACTION}").content.decode()
    older = first.split("before=")[1].split('"')[0]
    second = client.get(f"/trail/?action={ACTION}&before={older}").content.decode()
    assert first.count(f"<code>{ACTION}</code>") == 50 and second.count(f"<code>{ACTION}</code>") == 50
    assert "Newest" in second


def test_a_legal_hold_freezes_records_and_their_events_in_the_chain(trail):
    with transaction.atomic():  # an event about a record (any model will do as the target)
        record(action="grant.suspended", actor=BY, partner="northwind", target=Checkpoint.objects.first())
    event = Event.objects.get(action="grant.suspended")
    hold = legal_hold_place(
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
    forged = {"forged": True}
    superuser_sql(
        "UPDATE audit_evidence_bundle SET content = %s, content_hash = %s WHERE id = %s",
        [json.dumps(forged), hashlib.sha256(chain.canonical(forged)).hexdigest(), held.pk],
    )
    held.refresh_from_db()
    assert not evidence_intact(held)  # rewritten with its own hash: the sealed event still says otherwise


@pytest.mark.postgres
def test_searches_use_their_indexes_on_postgresql(trail):
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    from audit.selectors import event_list

    with connection.cursor() as cursor:  # 30,000 events of another kind around the few searched for
        cursor.execute(
            "INSERT INTO audit_event (occurred_at, actor_type, actor_id, actor_label, partner, action, target_type, "
            "target_id, outcome, reason, request_id, details, salt) SELECT now() - g * interval '1 minute', "
            "'system', '', 'bulk', 'orbit', 'bulk.event', '', '', 'success', '', '', '{}', md5(g::text) "
            "FROM generate_series(1, 30000) AS g"
        )
        cursor.execute("ANALYZE audit_event")
    indexed = {  # the index each search is expected to use
        "audit_event_partner_idx": event_list(partner="helix"),
        "audit_event_action_idx": event_list(action=ACTION),
        "audit_event_actor_idx": event_list(actor="chain-test"),
    }
    # A time range may be served by the time index or, as here where ids follow time, by the primary key read
    # backwards: either way, not by reading the whole table.
    weeks_ago = timezone.now() - timedelta(days=20)
    indexed["audit_event_"] = event_list(since=weeks_ago - timedelta(days=1), until=weeks_ago)
    with connection.cursor() as cursor:
        for index, query in indexed.items():
            sql, params = query[:51].query.sql_with_params()
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = json.dumps(cursor.fetchone()[0])
            assert index in plan and "Seq Scan" not in plan, plan


def test_unreadable_dates_in_the_trail_page_get_a_message_not_an_error(trail, client, auditor):
    sign_in(client, auditor)
    page = client.get("/trail/?since=2026-02-30", follow=True)
    assert page.status_code == 200 and "is not a date" in page.content.decode()
    export = client.post("/trail/exports/", {"format": "jsonl", "until": "someday"}, follow=True)
    assert "Nothing was exported" in export.content.decode()
    assert not Event.objects.filter(action="audit.exported").exists()
