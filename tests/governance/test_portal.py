"""The partner portal: a partner admin sees their own access — charters waiting for them, grants with their quota
used and left, the shared models they may use, what comes up, their decisions — answers their incident steps,
attests an exit, manages principals and exports their slice of the trail; and nothing of another partner's or of
the host's own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.services import actor_for
from audit import chain
from audit.exports import export_run
from audit.models import Event, ExportJob
from governance.exits.services import exit_run, exit_start
from governance.incidents.services import incident_declare
from governance.models import IncidentStep
from tests.helpers import second_officer_confirming, sign_in, used


@pytest.fixture
def portal(client, a_admin):
    sign_in(client, a_admin)
    return client


def page(client, path="/portal/"):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_partner_admin_lands_on_their_portal_and_only_they_may_open_it(client, a_admin, officer, a_principal):
    sign_in(client, a_admin)
    assert client.get("/")["Location"] == "/portal/"
    sign_in(client, officer)
    refused = client.get("/portal/")
    assert refused.status_code == 403 and "the host&#x27;s people have their own pages" in refused.content.decode()


def test_the_portal_shows_grants_with_their_quota_the_shared_models_and_the_latest_decisions(
    portal, make_grant, a_principal, atlas, demo_registry
):
    grant = make_grant(daily_quota=50, monthly_quota=500)
    used(a_principal, atlas, 3)
    used(a_principal, atlas, 1, action="fine_tune")  # no grant covers it
    shown = page(portal)
    assert f'href="/grants/?grant={grant.pk}"' in shown
    assert "3 of 50" in shown and "(47 left)" in shown and "3 of 500" in shown and "(497 left)" in shown
    assert demo_registry["atlas-7b 1.0"].fingerprint in shown and "evaluate, infer" in shown
    assert "benchmarking, safety-evaluation" in shown
    assert "action_not_permitted" in shown and "denied" in shown
    used(a_principal, atlas, 2)
    assert "5 of 50" in page(portal)  # the counters the decision point enforces: at once


def test_a_version_waiting_for_acceptance_is_a_prompt_and_an_expiry_comes_up(
    portal, live_charter, charter_text, officer, second_officer, make_grant
):
    from tests.world import activate

    soon = timezone.now() + timedelta(days=10)
    make_grant(valid_until=soon)
    assert "waits for your acceptance" not in page(portal)
    activate(charter_text(lambda document: document.update(title="Northwind evaluation, amended")), officer,
             second_officer)  # fmt: skip
    shown = page(portal)
    assert (
        f"Version {live_charter.number + 1} of charter {live_charter.charter.slug} waits for your acceptance" in shown
    )
    assert f'href="/registry/charters/{live_charter.charter.slug}/accept/"' in shown
    assert f"{soon:%Y-%m-%d}" in shown and "expires" in shown


def test_nothing_of_another_partner_or_of_the_host_shows(
    client, portal, make_grant, a_principal, b_admin, b_principal, atlas, live_charter, officer
):
    make_grant()
    used(a_principal, atlas, 2)
    incident_declare(charter=live_charter.charter, title="A drill", severity="low", summary="Practice.",
                     drill=True, by=actor_for(officer))  # fmt: skip
    assert "A drill" not in page(portal, "/portal/incidents/")  # drills are the host's alone
    sign_in(client, b_admin)
    for path in ("/portal/", "/portal/incidents/", "/portal/principals/", "/portal/trail/", "/governance/usage/"):
        shown = page(client, path)
        assert "northwind" not in shown.lower() and a_principal.username not in shown and atlas not in shown, path


def test_a_partner_admin_answers_the_step_the_playbook_gives_them(
    portal, live_charter, officer, a_admin, b_admin, client
):
    incident = incident_declare(charter=live_charter.charter, title="Unusual use", severity="high",
                                summary="A usage spike.", by=actor_for(officer))  # fmt: skip
    theirs = incident.steps.get(owner_role="partner_admin")
    hosts = incident.steps.filter(owner_role="governance_officer", automatic="").first()
    shown = page(portal)
    assert f"Incident #{incident.pk}, step {theirs.position}: {theirs.title}" in shown
    answer = f"/portal/incidents/{incident.pk}/steps/{theirs.position}/answer/"
    empty = portal.post(answer, {"note": " "}, follow=True).content.decode()
    assert "Say what your organisation did" in empty
    assert IncidentStep.objects.get(pk=theirs.pk).status == "pending"
    portal.post(answer, {"note": "A load test we forgot to announce; it is over."})
    theirs.refresh_from_db()
    assert (theirs.status, theirs.done_by) == ("done", a_admin.username)
    assert theirs.note == "A load test we forgot to announce; it is over."
    assert Event.objects.filter(action="incident.step_done", actor_label=a_admin.username).count() == 1
    # The host's steps are not theirs to answer, and another partner's admin finds no such step.
    assert (
        portal.post(f"/portal/incidents/{incident.pk}/steps/{hosts.position}/answer/", {"note": "x"}).status_code == 404
    )
    sign_in(client, b_admin)
    assert client.post(answer, {"note": "x"}).status_code == 404


def test_the_partner_attests_an_exit_on_its_page(
    portal, live_charter, northwind_holdings, officer, a_admin, demo_registry
):
    with second_officer_confirming("charter_end"):
        exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.").pk)
    shown = page(portal, f"/governance/exits/{exit_.pk}/")
    atlas = demo_registry["atlas-7b 1.0"].fingerprint
    assert f'value="{atlas}"' in shown and "data-confirm=" in shown
    attest = f"/governance/exits/{exit_.pk}/attest/"
    short = portal.post(attest, {"statement": "Gone.", "method": "erase", "destroyed": [atlas]}, follow=True)
    assert "Say, in a sentence or more" in short.content.decode()
    wanted = [atlas, demo_registry["clinical-notes-deid 2026-09"].fingerprint]
    statement = {"statement": "Both copies were erased from our cluster and backups.", "method": "cryptographic erase"}
    done = portal.post(attest, {**statement, "destroyed": wanted}, follow=True).content.decode()
    assert "Destruction attested" in done and f"{a_admin.username} attested on" in done


def test_principals_are_added_and_disabled_on_the_page(portal, a_admin, partner_a):
    portal.post("/portal/principals/add/", {"username": "northwind-batch", "full_name": "Nightly batch jobs"})
    principal = User.objects.get(username="northwind-batch")
    assert principal.is_service and principal.organisation_id == partner_a.pk
    assert "northwind-batch" in page(portal, "/portal/principals/")
    portal.post("/portal/principals/northwind-batch/disable/", {"reason": "Replaced by the new gateway."})
    principal.refresh_from_db()
    assert not principal.is_active
    duplicate = portal.post("/portal/principals/add/", {"username": "northwind-batch"}, follow=True)
    assert duplicate.status_code == 200 and "northwind-batch" in duplicate.content.decode()


def test_the_partner_exports_its_verifiable_slice(portal, client, make_grant, a_principal, atlas, b_admin):
    make_grant()
    used(a_principal, atlas, 2)
    chain.seal()  # an export holds sealed events
    portal.post("/portal/trail/export/", {"format": "jsonl"})
    job = ExportJob.objects.get()
    assert job.partner == "northwind"
    export_run(job.pk)
    shown = page(portal, "/portal/trail/")
    download = f"/trail/exports/{job.pk}/file/"
    assert download in shown
    assert portal.get(download).status_code == 200
    sign_in(client, b_admin)
    assert client.get(download).status_code == 404


def test_the_portal_costs_the_same_queries_for_three_grants_as_for_thirty(portal, make_grant, a_principal, atlas):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(portal)
        return len(captured)

    for _ in range(3):
        make_grant()
    used(a_principal, atlas, 1)
    few = queries()
    for _ in range(27):
        make_grant()
    assert queries() == few
