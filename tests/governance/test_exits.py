"""Exits: revoke everything, dispose of each asset as the plan says, collect the attestation and the certificates,
close with a report. Time travel carries the grace and retention periods."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.models import Proposal
from accounts.services import actor_for, api_token_issue
from audit.models import Event
from charters.models import Charter
from governance.exits.selectors import certificate_exit, exit_certificates, exit_report
from governance.exits.services import (
    exit_destruction_cancel,
    exit_run,
    exit_start,
    exits_tick,
)
from governance.models import DataKey, Exit, ExitItem, Grant
from governance.vault import artefacts
from governance.vault.destruction import destructions_run, grace
from tests.helpers import second_officer_confirming, sign_in
from tests.world import activate


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """These tests are of the act; a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


# The exit starts at the hour the suite started: inside the live charter's window, and before the steps the test
# takes without travelling (the partner's attestation, its last reads).
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def statuses(exit_):
    return {item.subject.split(" (")[0]: item.status for item in exit_.items.all()}


def test_an_exit_revokes_disposes_collects_the_attestation_and_closes_with_its_certificates(
    live_charter, northwind_holdings, officer, a_admin, a_principal, b_admin, api_as, demo_registry
):
    principal, admin, helix_admin = api_as(a_principal), api_as(a_admin), api_as(b_admin)
    held = northwind_holdings
    with time_machine.travel(START, tick=False):
        exit_ = exit_start(charter=live_charter.charter, by=actor_for(officer), reason="The evaluation is finished.")
        assert Charter.objects.get(pk=live_charter.charter.pk).status == "terminated"
        exit_ = exit_run(exit_.pk)

    assert exit_.status == Exit.Status.WINDING_DOWN and exit_.ends_partner_access
    assert {grant.status for grant in Grant.objects.filter(charter=live_charter.charter)} == {"revoked"}
    assert principal.client.get("/api/v1/grants").status_code == 401  # the principal's token is revoked
    refused = admin.client.get("/api/v1/grants")
    assert refused.status_code == 403 and "limited to your organisation's exit" in refused.json()["error"]["message"]
    assert statuses(exit_) == {
        "atlas-7b 1.0": "scheduled",
        "clinical-notes-deid 2026-09": "scheduled",
        "northwind-eval-suite 1.0": "retained",
        "Outputs produced for Northwind Labs": "retained",
    }
    keys = {name: DataKey.objects.get(pk=held[name].data_key_id) for name in held if name != "grants"}
    assert keys["model"].destroy_after == START + grace()
    assert keys["dataset"].destroy_after == START + timedelta(days=30) + grace()
    assert keys["suite"].destroy_after == START + timedelta(days=365) + grace()
    assert keys["output"].status == keys["helix_copy"].status == DataKey.Status.ACTIVE

    shown = admin.client.get(f"/api/v1/exits/{exit_.pk}").json()
    wanted = sorted(
        [demo_registry["atlas-7b 1.0"].fingerprint, demo_registry["clinical-notes-deid 2026-09"].fingerprint]
    )
    assert shown["attest_destruction"] == wanted and shown["status"] == "winding_down"
    assert helix_admin.client.get(f"/api/v1/exits/{exit_.pk}").status_code == 404
    attestation = f"/api/v1/exits/{exit_.pk}/attestation"
    statement = {"statement": "Both copies were erased from our cluster and backups.", "method": "cryptographic erase"}
    short = admin.client.post(attestation, {**statement, "destroyed": wanted[:1]}, format="json")
    assert short.status_code == 400 and wanted[1] in short.json()["error"]["fields"]["destroyed"][0]
    assert helix_admin.client.post(attestation, {**statement, "destroyed": wanted}, format="json").status_code == 404
    assert admin.client.post(attestation, {**statement, "destroyed": wanted}, format="json").status_code == 201
    again = admin.client.post(attestation, {**statement, "destroyed": wanted}, format="json")
    assert again.status_code == 400 and "attested on" in again.json()["error"]["message"]

    with time_machine.travel(START + grace() - timedelta(minutes=1), tick=False):
        assert destructions_run().destroyed == []
    with time_machine.travel(START + grace() + timedelta(minutes=1), tick=False):
        [first] = destructions_run().destroyed
        assert exits_tick() == 0  # the dataset's retention has not ended
    assert first.data_key_id == keys["model"].pk and certificate_exit(first) == exit_
    with pytest.raises(artefacts.KeyDestroyedError):
        b"".join(artefacts.artefact_read(held["model"]))
    assert b"".join(artefacts.artefact_read(held["helix_copy"])) == b"weights and outputs"

    with time_machine.travel(START + timedelta(days=30) + grace() + timedelta(minutes=1), tick=False):
        [second] = destructions_run().destroyed
        assert exits_tick() == 1  # the scheduled run closes what has nothing left to wait for
    exit_.refresh_from_db()
    assert exit_.status == Exit.Status.CLOSED
    report = exit_.report
    assert [row["number"] for row in report["certificates"]] == sorted([first.number, second.number])
    assert report["attestation"]["destroyed"] == wanted and report["access"]["grants"]["revoked"] == 2
    assert admin.client.get(f"/api/v1/exits/{exit_.pk}").status_code == 401  # narrowed until the exit closed
    assert b"".join(artefacts.artefact_read(held["suite"])) == b"weights and outputs"  # retained for a year
    assert Event.objects.filter(action="grant.revoked").count() == 2
    assert Event.objects.filter(action="api_token.narrowed").count() == 1
    assert Event.objects.filter(action="exit.closed").count() == 1


def test_running_an_exit_again_repeats_nothing(live_charter, northwind_holdings, officer):
    exit_ = exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Ended early.")
    grant = northwind_holdings["grants"][0]
    Grant.objects.filter(pk=grant.pk).update(status="revoked")  # someone else got there first
    exit_run(exit_.pk)
    before = Event.objects.count()
    exit_run(exit_.pk)
    exits_tick(now=exit_.started_at + timedelta(minutes=5))
    assert Event.objects.count() == before
    assert Event.objects.filter(action="grant.revoked").count() == 1
    assert Event.objects.filter(action="data_key.destruction_scheduled").count() == 3
    assert Event.objects.filter(action="exit.revocations_done").count() == 1


def test_a_partner_with_another_live_charter_keeps_its_tokens_and_what_that_charter_uses(
    live_charter, charter_text, officer, second_officer, a_admin, a_principal, api_as, store, demo_registry, partner_a
):
    second = activate(charter_text(lambda document: document.update(name="northwind-second")), officer, second_officer)
    assert second.charter.status == "active"
    principal = api_as(a_principal)
    model = store("delivery", asset_version=demo_registry["atlas-7b 1.0"], partner=partner_a)
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="First study over.").pk)
    assert not exit_.ends_partner_access
    assert principal.client.get("/api/v1/grants").status_code == 200
    assert not Event.objects.filter(action__in=["api_token.revoked", "api_token.narrowed"]).exists()
    kept = exit_.items.get(asset_version=demo_registry["atlas-7b 1.0"])
    assert kept.status == ExitItem.Status.RETAINED and "northwind-second" in kept.note
    assert DataKey.objects.get(pk=model.data_key_id).status == DataKey.Status.ACTIVE


def test_once_a_partners_access_ends_its_people_reach_only_the_exit_until_a_new_charter(
    live_charter, make_grant, charter_text, officer, second_officer, a_admin, a_principal, api_as, client, atlas
):
    make_grant()
    principal, admin = api_as(a_principal), api_as(a_admin)
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Over.").pk)
    sign_in(client, a_admin)  # a login, not a token
    refused = client.get("/api/v1/grants")
    assert refused.status_code == 403 and "limited to your organisation's exit" in refused.json()["error"]["message"]
    assert client.get(f"/api/v1/exits/{exit_.pk}").status_code == 200
    with pytest.raises(ValidationError, match="The collaboration with Northwind Labs ended on"):
        api_token_issue(user=a_principal, name="a way back in", by=actor_for(a_admin))
    narrowed = admin.client.post("/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "benchmarking"})
    assert narrowed.status_code == 403  # a narrowed token reaches no decision, and is told why
    assert "This token carries exit: decisions need" in narrowed.json()["error"]["message"]
    assert principal.client.get("/api/v1/grants").status_code == 401

    activate(charter_text(lambda document: document.update(name="northwind-again")), officer, second_officer)
    assert client.get("/api/v1/grants").status_code == 200  # a new collaboration
    api_token_issue(user=a_principal, name="the new gateway", by=actor_for(a_admin))


def test_an_attestation_is_not_waited_for_when_the_plan_destroys_nothing_held(live_charter, officer, a_admin, client):
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Nothing shared.").pk)
    assert exit_.status == Exit.Status.CLOSED  # nothing stored, nothing named to attest
    sign_in(client, a_admin)
    assert client.get("/api/v1/grants").status_code == 403  # the access stays ended


def test_a_migration_is_confirmed_by_an_officer_with_a_note_and_closes_the_exit(
    charter_text, officer, second_officer, a_admin, auditor, make_request, client, demo_registry, api_as
):
    def plan(document):
        document["exit_plan"] = {
            "items": [{"asset_kind": "model", "disposition": "migrate"}],
            "outputs_owner": "host",
            "partner_attests_destruction": False,
        }

    version = activate(charter_text(plan), officer, second_officer, accept_by=a_admin)
    make_request()
    exit_ = exit_run(exit_start(charter=version.charter, by=actor_for(officer), reason="Handed over.").pk)
    item = exit_.items.get(disposition="migrate")
    assert item.status == ExitItem.Status.AWAITING_MIGRATION and item.asset_version == demo_registry["atlas-7b 1.0"]
    assert Grant.objects.get().status == "revoked"  # requested grants go too
    sign_in(client, officer)
    response = client.post(f"/governance/exits/{exit_.pk}/items/{item.pk}/migrated/", {"note": " "}, follow=True)
    assert "Say where it went" in response.content.decode()
    item.refresh_from_db()
    assert item.status == ExitItem.Status.AWAITING_MIGRATION
    url = f"/api/v1/exits/{exit_.pk}/items/{item.pk}/migrated"
    assert api_as(auditor).client.post(url, {"note": "Looks done."}, format="json").status_code == 403
    done = api_as(officer).client.post(
        url, {"note": "Weights handed to Northwind's bucket, hash checked."}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "closed"
    exit_.refresh_from_db()
    assert exit_.status == Exit.Status.CLOSED and exit_.report["items"][0]["status"] == "migrated"


def test_an_exit_is_refused_without_a_reason_twice_or_without_an_approved_version(
    live_charter, charter_text, officer, partner_a
):
    with pytest.raises(ValidationError, match="Give the reason"):
        exit_start(charter=live_charter.charter, by=actor_for(officer), reason="  ")
    assert Charter.objects.get(pk=live_charter.charter.pk).status == "active" and not Exit.objects.exists()
    exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Done.")
    with pytest.raises(ValidationError, match="exit began on"):
        exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Done again.")
    draft = Charter.objects.create(slug="never-approved", partner=partner_a, title="Draft only")
    with pytest.raises(ValidationError, match="no approved version"):
        exit_start(charter=draft, by=actor_for(officer), reason="Never started.")
    assert Exit.objects.count() == 1


def test_the_exit_pages_show_the_plan_then_the_progress_and_let_an_officer_cancel_a_destruction(
    client, live_charter, northwind_holdings, officer, second_officer, a_admin, b_admin, auditor
):
    slug = live_charter.charter.slug
    sign_in(client, officer)
    page = client.get(f"/governance/charters/{slug}/exit/").content.decode()
    assert "atlas-7b 1.0 (every model)" in page and "northwind-eval-suite 1.0" in page and "retain" in page
    assert client.post(f"/governance/charters/{slug}/exit/", {"reason": ""}, follow=True).status_code == 200
    assert not Proposal.objects.exists()
    proposed = client.post(f"/governance/charters/{slug}/exit/", {"reason": "Study complete."}, follow=True)
    proposal = Proposal.objects.get()
    assert "atlas-7b 1.0 (every model): destroy" in proposed.content.decode() and not Exit.objects.exists()
    sign_in(client, second_officer)
    response = client.post(f"/proposals/{proposal.pk}/confirm/")
    exit_ = Exit.objects.get()
    assert response["Location"] == f"/governance/exits/{exit_.pk}/"
    sign_in(client, officer)
    exit_run(exit_.pk)
    page = client.get(f"/governance/exits/{exit_.pk}/").content.decode()
    assert "Cancel destruction" in page and "data-clock" in page and "attestation" in page
    key = DataKey.objects.get(pk=northwind_holdings["model"].data_key_id)
    client.post(f"/governance/keys/{key.key_id}/cancel/", {"reason": "Legal asked us to keep it."})
    key.refresh_from_db()
    item = exit_.items.get(keys=key)
    assert key.status == DataKey.Status.ACTIVE and item.status == ExitItem.Status.KEPT and "Legal" in item.note
    report = client.get(f"/governance/exits/{exit_.pk}/report.json").json()
    assert report["final"] is False and report["report"]["charter"] == slug

    sign_in(client, auditor)
    assert client.get(f"/governance/exits/{exit_.pk}/").status_code == 200
    assert client.post(f"/governance/keys/{key.key_id}/destroy/", {"reason": "x"}).status_code == 403
    sign_in(client, a_admin)
    assert client.get(f"/governance/exits/{exit_.pk}/").status_code == 200
    assert client.get(f"/governance/charters/{slug}/exit/").status_code == 403
    sign_in(client, b_admin)
    assert client.get(f"/governance/exits/{exit_.pk}/").status_code == 404


def test_a_line_with_one_destruction_cancelled_is_kept_once_its_other_key_is_destroyed(
    live_charter, northwind_holdings, store, demo_registry, partner_a, officer
):
    second_copy = store("delivery", asset_version=demo_registry["atlas-7b 1.0"], partner=partner_a)
    kept = DataKey.objects.get(pk=northwind_holdings["model"].data_key_id)
    by = actor_for(officer)
    with time_machine.travel(START, tick=False):
        exit_ = exit_run(exit_start(charter=live_charter.charter, by=by, reason="Study over.").pk)
        line = exit_.items.get(asset_version=demo_registry["atlas-7b 1.0"])
        assert set(line.keys.all()) == {kept, second_copy.data_key}
        assert exit_destruction_cancel(data_key=kept, by=by, reason="Legal hold.") == line
    line.refresh_from_db()
    note = f"Destruction cancelled by {by.label}: Legal hold."
    assert line.status == ExitItem.Status.SCHEDULED  # the other copy is still on its way to destruction
    assert (line.note, line.done_by, line.done_at) == (note, by.label, START)

    with time_machine.travel(START + grace() + timedelta(minutes=1), tick=False):
        [certificate] = destructions_run().destroyed
        exits_tick()
    line.refresh_from_db()
    erased = DataKey.objects.get(pk=second_copy.data_key_id)
    assert (line.status, line.done_by, line.done_at) == (ExitItem.Status.KEPT, "destruction", erased.destroyed_at)
    assert line.note == note
    assert certificate.data_key_id == erased.pk and list(exit_certificates(exit_)) == [certificate]
    [reported] = [row for row in exit_report(exit_)["items"] if row["subject"] == line.subject]
    assert reported["status"] == "kept"
    assert {key["certificate"] for key in reported["keys"]} == {None, certificate.number}


def test_a_partner_admin_reaches_the_certificate_of_its_own_asset_destroyed_by_its_exit(
    client, live_charter, northwind_holdings, officer, a_admin, b_admin
):
    with time_machine.travel(START, tick=False):
        exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.").pk)
    suite = northwind_holdings["suite"]  # Northwind's own evaluation suite, kept here for a year
    with time_machine.travel(START + timedelta(days=365) + grace() + timedelta(minutes=1), tick=False):
        [certificate] = [row for row in destructions_run().destroyed if row.data_key_id == suite.data_key_id]
    assert certificate.partner is None  # an asset version's own files are no partner's delivery
    page = f"/governance/certificates/{certificate.number}/"
    sign_in(client, a_admin)
    shown = client.get(page)
    assert shown.status_code == 200 and f'href="/governance/exits/{exit_.pk}/"' in shown.content.decode()
    sign_in(client, b_admin)
    assert client.get(page).status_code == 404


def test_a_key_kept_by_one_exit_and_scheduled_again_by_a_later_one_is_the_later_exits(
    live_charter, northwind_holdings, charter_text, officer, second_officer, demo_registry
):
    by = actor_for(officer)
    first = exit_run(exit_start(charter=live_charter.charter, by=by, reason="First study over.").pk)
    key = DataKey.objects.get(pk=northwind_holdings["model"].data_key_id)
    exit_destruction_cancel(data_key=key, by=by, reason="The next study needs it.")
    again = activate(charter_text(lambda document: document.update(name="northwind-again")), officer, second_officer)
    later = exit_run(exit_start(charter=again.charter, by=by, reason="Second study over.").pk)
    assert later.items.get(keys=key).status == ExitItem.Status.SCHEDULED
    assert not first.items.filter(keys=key).exists()
    assert first.items.get(asset_version=demo_registry["atlas-7b 1.0"]).status == ExitItem.Status.KEPT


def test_the_exit_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/exits", "/api/v1/exits/{id}", "/api/v1/exits/{id}/attestation", "/api/v1/exits/{id}/report"):
        assert path in schema["paths"], path
    assert "ExitAttestationRequest" in schema["components"]["schemas"]
