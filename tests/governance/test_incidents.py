"""Incidents run by the charter's playbook: the checklist and its clocks, the automatic steps a worker does once
(hold the partner's grants, preserve evidence, notify), drills that do none of it, escalation of overdue steps,
closing with a resolution, the pages, and the incident an anomaly finding opens."""

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import actor_for
from audit.context import request_context
from audit.holds import evidence_intact
from audit.models import Event, EvidenceBundle
from governance.anomalies import services as anomalies
from governance.decisions.services import DecisionRequest, decide
from governance.grants.services import grant_resume, grant_suspend
from governance.incidents import selectors as incident_selectors
from governance.incidents import services as incidents
from governance.models import AnomalyFinding, Grant, Incident, IncidentStep, OutboxMessage
from governance.tasks import incident_run as incident_task
from tests.helpers import sign_in

SECURITY, LEGAL = "security@meridian.example", "legal@meridian.example"
PLAYBOOK_STEPS = [  # (title, owner, deadline hours, automatic) as model-misuse lists them
    ("Suspend the partner's grants", "governance_officer", 0, "suspend_grants"),
    ("Preserve evidence", "governance_officer", 1, "preserve_evidence"),
    ("Notify the partner and security", "governance_officer", 4, "notify"),
    ("Partner explains the usage", "partner_admin", 48, ""),
    ("Decide on remediation or exit", "governance_officer", 72, ""),
]


@pytest.fixture
def T():
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def declare(charter_version, officer, *, drill=False, severity="high"):
    return incidents.incident_declare(
        charter=charter_version.charter,
        title="Prompts scraped at volume",
        severity=severity,
        summary="The gateway sent ten times its usual traffic overnight.",
        by=actor_for(officer),
        drill=drill,
    )


def ask(api_as, principal, atlas):
    response = api_as(principal).client.post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "benchmarking"}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def step(incident, position):
    return incident.steps.get(position=position)


def shown(response):
    return html.unescape(response.content.decode())


def messages_to(address):
    """The incidents' mail to ``address`` (not, say, the charter's acceptance mail its world began with)."""
    return [message for message in OutboxMessage.objects.filter(key__startswith="incident-") if address in message.to]


# --- Declaring and the automatic steps ------------------------------------------------------------------------


def test_declaring_copies_the_playbook_into_steps_with_their_clocks(live_charter, officer, T):
    with time_machine.travel(T, tick=False):
        incident = declare(live_charter, officer)
    steps = list(incident.steps.order_by("position"))
    assert [(s.title, s.owner_role, s.deadline_hours, s.automatic) for s in steps] == PLAYBOOK_STEPS
    assert [s.due_at - T for s in steps] == [timedelta(hours=hours) for _, _, hours, _ in PLAYBOOK_STEPS]
    assert {s.status for s in steps} == {IncidentStep.Status.PENDING}
    assert incident.declared_at == T and incident.remediation_due_at == T + timedelta(hours=72)
    assert (incident.playbook.slug, incident.notify) == ("model-misuse", [LEGAL, SECURITY])
    declared = Event.objects.get(action="incident.declared")
    assert declared.target_id == str(incident.pk) and declared.actor_id == str(officer.pk)
    assert declared.details["playbook"] == "model-misuse" and declared.details["severity"] == "high"


def test_the_worker_holds_every_live_grant_preserves_evidence_and_notifies(
    make_grant, make_request, live_charter, officer, a_admin, a_principal, atlas, api_as
):
    live = [make_grant(), make_grant(purposes=["benchmarking"])]
    requested = make_request(actions=["evaluate"])
    assert ask(api_as, a_principal, atlas)["allow"] is True
    incident = declare(live_charter, officer)
    assert not Grant.objects.filter(held_at__isnull=False).exists()  # declaring only queues the run

    assert incidents.incident_run(incident.pk) == 3

    for grant in live:
        grant.refresh_from_db()
        assert grant.held_at is not None and grant.status == Grant.Status.ACTIVE
    requested.refresh_from_db()
    assert requested.held_at is None
    answer = ask(api_as, a_principal, atlas)
    assert answer["allow"] is False and answer["reasons"][0]["code"] == "incident_hold"
    incident.refresh_from_db()
    assert incident.evidence is not None and evidence_intact(incident.evidence)
    [frozen] = incident.evidence.content["records"]
    assert (frozen["type"], frozen["id"], frozen["data"]["title"]) == (
        "governance.incident",
        str(incident.pk),
        "Prompts scraped at volume",
    )
    notify = OutboxMessage.objects.get(key=f"incident-{incident.pk}-notify")
    assert notify.to == [LEGAL, SECURITY] and "DRILL" not in notify.subject
    partner = OutboxMessage.objects.get(key=f"incident-{incident.pk}-partner")
    assert partner.to == [a_admin.email] and "on hold" in partner.subject
    assert [s.status for s in incident.steps.order_by("position")] == ["done"] * 3 + ["pending"] * 2
    assert step(incident, 1).result == {"held": sorted(grant.pk for grant in live)}


def test_running_the_automatic_steps_again_repeats_nothing(make_grant, live_charter, officer):
    make_grant()
    incident = declare(live_charter, officer)
    assert incidents.incident_run(incident.pk) == 3
    mail = OutboxMessage.objects.count()
    assert incident_task(incident.pk) == 0  # the message redelivered to a worker
    assert Event.objects.filter(action="grant.held").count() == 1
    assert EvidenceBundle.objects.count() == 1
    assert Event.objects.filter(action="incident.step_done").count() == 3
    assert OutboxMessage.objects.count() == mail


# --- Drills ---------------------------------------------------------------------------------------------------


def test_a_drill_holds_nothing_preserves_nothing_and_tells_only_the_responders(
    make_grant, live_charter, officer, a_admin
):
    grant = make_grant()
    drill = declare(live_charter, officer, drill=True)
    assert incidents.incident_run(drill.pk) == 3
    after = Grant.objects.get(pk=grant.pk)
    assert (after.status, after.held_at) == (grant.status, grant.held_at) == (Grant.Status.ACTIVE, None)
    assert not Event.objects.filter(action="grant.held").exists()
    assert not EvidenceBundle.objects.exists()
    drill.refresh_from_db()
    assert drill.evidence is None
    assert messages_to(a_admin.email) == []
    told = OutboxMessage.objects.get(key=f"incident-{drill.pk}-notify")
    assert told.to == [LEGAL, SECURITY] and "DRILL" in told.subject
    assert step(drill, 1).result == {"drill": True, "would_hold": [grant.pk]}
    assert Event.objects.filter(action="incident.drill_started").count() == 1
    assert not Event.objects.filter(action="incident.declared").exists()


def test_a_finished_drill_records_its_late_steps_and_timings(make_grant, live_charter, officer, T):
    make_grant()
    by = actor_for(officer)
    with time_machine.travel(T, tick=False):
        drill = declare(live_charter, officer, drill=True)
        incidents.incident_run(drill.pk)
    with time_machine.travel(T + timedelta(hours=50), tick=False):  # two hours past the partner's 48
        incidents.incident_step_complete(step=step(drill, 4), by=by, note="Their admin explained on a call.")
    with time_machine.travel(T + timedelta(hours=60), tick=False):
        incidents.incident_step_complete(step=step(drill, 5), by=by, note="")
        incidents.incident_close(incident=drill, by=by, resolution="Drill over; partner contact was slow.")
    finished = Event.objects.get(action="incident.drill_finished")
    assert finished.details["steps_late"] == [4] and finished.details["steps_not_done"] == []
    assert finished.details["minutes_open"] == 60 * 60
    assert not Event.objects.filter(action="incident.closed").exists()
    timings = incident_selectors.incident_timings(Incident.objects.get(pk=drill.pk))
    assert timings.on_time == 4 and [row.position for row in timings.steps if row.late] == [4]
    assert timings.steps[3].margin_seconds == -2 * 3600 and not timings.ready


# --- Anomaly findings -----------------------------------------------------------------------------------------


def probe_exports(principal, fingerprint, times=3):
    with request_context(request_id="", client_address=None):
        return [decide(principal, DecisionRequest("export_outputs", fingerprint, "benchmarking")) for _ in range(times)]


def test_a_finding_opens_an_incident_and_the_next_one_joins_it(make_grant, live_charter, demo_registry, a_principal, T):
    first = make_grant(actions=["infer"])  # no export_outputs: export attempts are denied
    second = make_grant(actions=["infer"], asset_version=demo_registry["atlas-7b 1.1"])
    with time_machine.travel(T, tick=False):
        probe_exports(a_principal, first.asset_version.fingerprint)
    with time_machine.travel(T + timedelta(minutes=1), tick=False):
        [finding] = anomalies.anomalies_check()
    incident = Incident.objects.get()
    assert (finding.grant_id, finding.name) == (first.pk, "export-probing")
    assert incident.playbook.slug == "model-misuse" and incident.charter == live_charter.charter
    assert incident.severity == "medium" and incident.declared_at == finding.created_at and not incident.drill
    assert AnomalyFinding.objects.get(pk=finding.pk).incident_id == incident.pk
    assert incident.steps.count() == len(PLAYBOOK_STEPS)

    with time_machine.travel(T + timedelta(minutes=5), tick=False):
        probe_exports(a_principal, second.asset_version.fingerprint)
    with time_machine.travel(T + timedelta(minutes=6), tick=False):
        [later] = anomalies.anomalies_check()
    assert later.grant_id == second.pk
    assert Incident.objects.count() == 1
    assert AnomalyFinding.objects.get(pk=later.pk).incident_id == incident.pk
    assert Event.objects.filter(action="incident.declared").count() == 1
    assert Event.objects.filter(action="incident.finding_added", target_id=str(incident.pk)).count() == 2


def test_an_open_drill_does_not_absorb_a_real_finding(make_grant, live_charter, officer, a_principal, T):
    grant = make_grant(actions=["infer"])
    with time_machine.travel(T, tick=False):
        drill = declare(live_charter, officer, drill=True)
        probe_exports(a_principal, grant.asset_version.fingerprint)
    with time_machine.travel(T + timedelta(minutes=1), tick=False):
        [finding] = anomalies.anomalies_check()
    real = Incident.objects.get(drill=False)
    assert real.pk != drill.pk and AnomalyFinding.objects.get(pk=finding.pk).incident_id == real.pk


# --- Clocks and escalation ------------------------------------------------------------------------------------


def test_overdue_steps_are_escalated_to_the_officers_once_each(make_grant, live_charter, officer, second_officer, T):
    make_grant()
    with time_machine.travel(T, tick=False):
        incident = declare(live_charter, officer)
        assert incidents.incident_run(incident.pk) == 3
    with time_machine.travel(T + timedelta(hours=47), tick=False):
        assert incidents.incidents_run() == incidents.IncidentsRun(escalated=0, resumed=0)
    assert step(incident, 4).escalated_at is None

    due = T + timedelta(hours=48, minutes=1)
    with time_machine.travel(due, tick=False):
        assert incidents.incidents_run().escalated == 1
    assert step(incident, 4).escalated_at == due and step(incident, 5).escalated_at is None
    overdue = Event.objects.get(action="incident.step_overdue")
    assert overdue.details["step"] == 4 and overdue.target_id == str(incident.pk)
    mail = OutboxMessage.objects.get(key=f"incident-{incident.pk}-step-4-overdue")
    assert mail.to == sorted([officer.email, second_officer.email]) and "step 4 is overdue" in mail.subject

    with time_machine.travel(T + timedelta(hours=49), tick=False):
        assert incidents.incidents_run().escalated == 0
    assert Event.objects.filter(action="incident.step_overdue").count() == 1

    with time_machine.travel(T + timedelta(hours=72, minutes=1), tick=False):
        assert incidents.incidents_run().escalated == 1
    assert step(incident, 5).escalated_at == T + timedelta(hours=72, minutes=1)
    assert [e.details["step"] for e in Event.objects.filter(action="incident.step_overdue").order_by("id")] == [4, 5]


def test_a_step_done_in_time_is_not_escalated(make_grant, live_charter, officer, T):
    make_grant()
    with time_machine.travel(T, tick=False):
        incident = declare(live_charter, officer)
        incidents.incident_run(incident.pk)
    with time_machine.travel(T + timedelta(hours=47), tick=False):
        incidents.incident_step_complete(step=step(incident, 4), by=actor_for(officer), note="Mail from their CTO.")
    with time_machine.travel(T + timedelta(hours=49), tick=False):
        assert incidents.incidents_run().escalated == 0
    assert not Event.objects.filter(action="incident.step_overdue").exists()


def test_the_scheduled_run_does_the_automatic_steps_a_lost_message_left(make_grant, live_charter, officer, T):
    grant = make_grant()
    with time_machine.travel(T, tick=False):
        incident = declare(live_charter, officer)  # its message to the worker is never delivered
    with time_machine.travel(T + timedelta(seconds=30), tick=False):
        # A worker may still be on it: neither done here nor escalated, though step 1 is due at once.
        assert incidents.incidents_run() == incidents.IncidentsRun(escalated=0, resumed=0)
    assert step(incident, 1).status == IncidentStep.Status.PENDING
    grant.refresh_from_db()
    assert grant.held_at is None

    late = T + timedelta(minutes=1, seconds=1)
    with time_machine.travel(late, tick=False):
        # Step 1 (due at once) waited a minute for the lost message: the officers hear of it, and it is done.
        assert incidents.incidents_run() == incidents.IncidentsRun(escalated=1, resumed=1)
    assert [s.status for s in incident.steps.order_by("position")] == ["done"] * 3 + ["pending"] * 2
    assert step(incident, 2).done_at == late
    grant.refresh_from_db()
    assert grant.held_at == late
    with time_machine.travel(late + timedelta(minutes=1), tick=False):
        assert incidents.incidents_run().resumed == 0
    assert Event.objects.filter(action="grant.held").count() == 1


# --- Closing --------------------------------------------------------------------------------------------------


def test_closing_needs_a_resolution(make_grant, live_charter, officer):
    incident = declare(live_charter, officer)
    for resolution in ("", "   ", "Fixed."):
        with pytest.raises(ValidationError) as refused:
            incidents.incident_close(incident=incident, by=actor_for(officer), resolution=resolution)
        assert "Write the resolution" in refused.value.message_dict["resolution"][0]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN and incident.closed_at is None
    assert not Event.objects.filter(action="incident.closed").exists()


def test_closing_marks_pending_steps_not_done_and_keeps_the_holds(make_grant, live_charter, officer):
    grant = make_grant()
    incident = declare(live_charter, officer)
    incidents.incident_run(incident.pk)
    incidents.incident_close(
        incident=incident, by=actor_for(officer), resolution="A load test the partner forgot to announce."
    )
    assert [s.status for s in incident.steps.order_by("position")] == ["done"] * 3 + ["not_done"] * 2
    closed = Event.objects.get(action="incident.closed")
    assert closed.details["steps_not_done"] == [4, 5] and closed.details["released"] == []
    grant.refresh_from_db()
    assert grant.held_at is not None
    assert not Event.objects.filter(action="grant.released").exists()
    assert incidents.incident_run(incident.pk) == 0  # closed: nothing runs any more


def test_closing_with_release_holds_releases_the_grants_the_incident_held(
    make_grant, live_charter, officer, a_principal, atlas, api_as
):
    grants = [make_grant(), make_grant(purposes=["benchmarking"])]
    incident = declare(live_charter, officer)
    incidents.incident_run(incident.pk)
    assert ask(api_as, a_principal, atlas)["allow"] is False
    incidents.incident_close(
        incident=incident,
        by=actor_for(officer),
        resolution="A load test the partner forgot to announce.",
        release_holds=True,
    )
    for grant in grants:
        grant.refresh_from_db()
        assert grant.held_at is None and grant.status == Grant.Status.ACTIVE
    released = Event.objects.filter(action="grant.released")
    assert sorted(int(e.target_id) for e in released) == sorted(g.pk for g in grants)
    assert sorted(Event.objects.get(action="incident.closed").details["released"]) == sorted(g.pk for g in grants)
    assert ask(api_as, a_principal, atlas)["allow"] is True


# --- Pages ----------------------------------------------------------------------------------------------------


def test_an_officer_declares_on_the_web_and_sees_the_checklist_with_its_clocks(
    client, make_grant, live_charter, officer
):
    make_grant()
    sign_in(client, officer)
    slug = live_charter.charter.slug
    response = client.post(
        f"/governance/charters/{slug}/incidents/",
        {"title": "Odd traffic", "severity": "critical", "summary": "Traffic from an unknown network."},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/governance/incidents/{incident.pk}/"
    assert (incident.severity, incident.drill, incident.declared_by) == ("critical", False, officer.username)
    page = shown(client.get(response["Location"]))
    assert f"Incident #{incident.pk}: Odd traffic" in page
    for title, *_ in PLAYBOOK_STEPS:
        assert title in page
    assert page.count("data-clock") == 1 + 1 + len(PLAYBOOK_STEPS)  # remediation, notification, each step
    assert "is open; its automatic steps are running" in page


def test_a_drill_is_declared_from_the_same_form(client, live_charter, officer):
    sign_in(client, officer)
    response = client.post(
        f"/governance/charters/{live_charter.charter.slug}/incidents/",
        {"title": "Tabletop", "severity": "low", "summary": "Quarterly exercise.", "drill": "on"},
        follow=True,
    )
    drill = Incident.objects.get()
    assert drill.drill and "Drill #" in shown(response) and "A tabletop exercise" in shown(response)


def test_a_severity_the_playbook_does_not_know_is_refused_on_the_web(client, live_charter, officer):
    sign_in(client, officer)
    response = client.post(
        f"/governance/charters/{live_charter.charter.slug}/incidents/",
        {"title": "Odd traffic", "severity": "catastrophic", "summary": "Traffic from an unknown network."},
        follow=True,
    )
    assert response.status_code == 200
    assert "knows the severities low, medium, high, critical; choose one of them" in shown(response)
    assert not Incident.objects.exists() and not IncidentStep.objects.exists()
    assert not Event.objects.filter(action__startswith="incident.").exists()


def test_a_partner_step_needs_a_note_on_the_web(client, live_charter, officer):
    incident = declare(live_charter, officer)
    sign_in(client, officer)
    response = client.post(f"/governance/incidents/{incident.pk}/steps/4/done/", {"note": "  "}, follow=True)
    assert "This step belongs to the partner admin: say how they confirmed it." in shown(response)
    assert step(incident, 4).status == IncidentStep.Status.PENDING
    assert not Event.objects.filter(action="incident.step_done").exists()

    client.post(f"/governance/incidents/{incident.pk}/steps/4/done/", {"note": "Their CTO wrote to us."})
    done = step(incident, 4)
    assert (done.status, done.note, done.done_by) == ("done", "Their CTO wrote to us.", officer.username)


def test_an_auditor_reads_incidents_but_cannot_act(client, live_charter, officer, auditor):
    incident = declare(live_charter, officer)
    sign_in(client, auditor)
    page = client.get(f"/governance/incidents/{incident.pk}/")
    assert page.status_code == 200 and "Mark done" not in shown(page) and "Close the incident" not in shown(page)
    assert client.get("/governance/incidents/").status_code == 200
    assert client.post(f"/governance/incidents/{incident.pk}/steps/5/done/", {"note": "x"}).status_code == 403
    assert (
        client.post(f"/governance/incidents/{incident.pk}/close/", {"resolution": "Nothing at all."}).status_code == 403
    )
    assert (
        client.post(
            f"/governance/charters/{live_charter.charter.slug}/incidents/",
            {"title": "t", "severity": "low", "summary": "s"},
        ).status_code
        == 403
    )
    assert step(incident, 5).status == "pending" and Incident.objects.get().status == "open"
    assert Incident.objects.count() == 1


def test_a_partner_admin_cannot_see_or_run_incidents(client, live_charter, officer, a_admin):
    incident = declare(live_charter, officer)
    sign_in(client, a_admin)
    refused = (403, 404)
    for url in (f"/governance/incidents/{incident.pk}/", "/governance/incidents/"):
        assert client.get(url).status_code in refused
    for url, data in (
        (f"/governance/incidents/{incident.pk}/steps/4/done/", {"note": "We did."}),
        (f"/governance/incidents/{incident.pk}/close/", {"resolution": "All good here."}),
        (
            f"/governance/charters/{live_charter.charter.slug}/incidents/",
            {"title": "t", "severity": "low", "summary": "s"},
        ),
    ):
        assert client.post(url, data).status_code in refused
    assert step(incident, 4).status == "pending" and Incident.objects.get().status == "open"
    assert Incident.objects.count() == 1


def test_an_officer_closes_on_the_web_and_the_holds_are_released_when_asked(client, make_grant, live_charter, officer):
    grant = make_grant()
    incident = declare(live_charter, officer)
    incidents.incident_run(incident.pk)
    sign_in(client, officer)
    refused = client.post(f"/governance/incidents/{incident.pk}/close/", {"resolution": ""}, follow=True)
    assert "Write the resolution" in shown(refused) and Incident.objects.get().status == "open"
    client.post(
        f"/governance/incidents/{incident.pk}/close/",
        {"resolution": "False alarm: a planned benchmark run.", "release_holds": "on"},
    )
    incident.refresh_from_db()
    grant.refresh_from_db()
    assert incident.status == "closed" and incident.closed_by == officer.username and grant.held_at is None
    page = shown(client.get(f"/governance/incidents/{incident.pk}/"))
    assert "False alarm: a planned benchmark run." in page and "data-clock" not in page


def test_closing_does_not_release_grants_another_open_incident_of_the_partner_still_holds(
    live_charter, make_grant, officer
):
    make_grant()
    first = incidents.incident_declare(
        charter=live_charter.charter,
        title="Leak",
        severity="high",
        summary="Weights seen outside.",
        by=actor_for(officer),
    )
    incidents.incident_run(first.pk)
    second = incidents.incident_declare(
        charter=live_charter.charter,
        title="Probing",
        severity="medium",
        summary="Export probing.",
        by=actor_for(officer),
    )
    with pytest.raises(ValidationError, match=f"Incident #{second.pk} on the same partner is still open"):
        incidents.incident_close(
            incident=first, by=actor_for(officer), resolution="Contained and explained.", release_holds=True
        )
    first.refresh_from_db()
    assert first.status == "open" and Grant.objects.filter(held_at__isnull=False).count() == 1


def test_an_automatic_step_is_not_ticked_off_by_hand(live_charter, make_grant, officer):
    make_grant()
    incident = incidents.incident_declare(
        charter=live_charter.charter, title="Leak", severity="high", summary="Seen outside.", by=actor_for(officer)
    )
    first = incident.steps.get(position=1)
    with pytest.raises(ValidationError, match="runs by itself"):
        incidents.incident_step_complete(step=first, by=actor_for(officer), note="done it myself")
    incidents.incident_run(incident.pk)
    assert Grant.objects.filter(held_at__isnull=False).count() == 1  # the worker still did it


# --- Closing releases what the incident's findings suspended ---------------------------------------------------


def finding_incident(grant, principal, at):
    """The incident that a finding on ``grant`` (denied export attempts at ``at``) opens; the grant is suspended."""
    with time_machine.travel(at, tick=False):
        probe_exports(principal, grant.asset_version.fingerprint)
    with time_machine.travel(at + timedelta(minutes=1), tick=False):
        [finding] = anomalies.anomalies_check()
    assert Grant.objects.get(pk=grant.pk).status == Grant.Status.SUSPENDED
    return AnomalyFinding.objects.select_related("incident").get(pk=finding.pk).incident


def test_closing_with_release_resumes_the_grant_its_finding_suspended(
    make_grant, officer, a_principal, atlas, api_as, T
):
    grant = make_grant(actions=["infer"])  # no export_outputs: export attempts are denied
    incident = finding_incident(grant, a_principal, T)
    incidents.incident_run(incident.pk)  # and the playbook holds it too
    assert ask(api_as, a_principal, atlas)["reasons"][0]["code"] == "grant_suspended"

    incidents.incident_close(
        incident=incident, by=actor_for(officer), resolution="A misconfigured export job; fixed.", release_holds=True
    )

    grant.refresh_from_db()
    assert (grant.status, grant.held_at) == (Grant.Status.ACTIVE, None)
    resumed = Event.objects.get(action="grant.resumed", target_id=str(grant.pk))
    assert resumed.actor_id == str(officer.pk)
    assert resumed.reason == f"Incident #{incident.pk} closed: A misconfigured export job; fixed."
    closed = Event.objects.get(action="incident.closed")
    assert (closed.details["released"], closed.details["resumed"]) == ([grant.pk], [grant.pk])
    assert resumed.id < closed.id  # in the closing transaction, before its record
    assert ask(api_as, a_principal, atlas)["allow"] is True


def test_closing_with_release_keeps_the_suspensions_an_officer_made(make_grant, demo_registry, officer, a_principal, T):
    again = make_grant(actions=["infer"])
    by_hand = make_grant(actions=["infer"], asset_version=demo_registry["atlas-7b 1.1"])
    incident = finding_incident(again, a_principal, T)
    by = actor_for(officer)
    grant_resume(grant=Grant.objects.get(pk=again.pk), by=by, reason="Their export job, explained.")
    grant_suspend(grant=Grant.objects.get(pk=again.pk), by=by, reason="Until they confirm it is switched off.")
    grant_suspend(grant=by_hand, by=by, reason="Their admin asked us to pause it.")

    incidents.incident_close(incident=incident, by=by, resolution="Explained; two pauses stay.", release_holds=True)

    assert {grant.status for grant in Grant.objects.filter(pk__in=[again.pk, by_hand.pk])} == {Grant.Status.SUSPENDED}
    assert Event.objects.filter(action="grant.resumed").count() == 1  # the officer's own, before closing
    assert Event.objects.get(action="incident.closed").details["resumed"] == []


def test_closing_with_release_leaves_what_another_incidents_finding_suspended(
    make_grant, demo_registry, officer, a_principal, T
):
    earlier = make_grant(actions=["infer"])
    later = make_grant(actions=["infer"], asset_version=demo_registry["atlas-7b 1.1"])
    first = finding_incident(earlier, a_principal, T)
    by = actor_for(officer)
    incidents.incident_close(incident=first, by=by, resolution="Suspended until the partner answers.")
    second = finding_incident(later, a_principal, T + timedelta(minutes=5))
    assert second.pk != first.pk

    incidents.incident_close(incident=second, by=by, resolution="Their probing job, stopped.", release_holds=True)

    assert Grant.objects.get(pk=later.pk).status == Grant.Status.ACTIVE
    assert Grant.objects.get(pk=earlier.pk).status == Grant.Status.SUSPENDED  # the first incident's, kept
    assert Event.objects.get(action="incident.closed", target_id=str(second.pk)).details["resumed"] == [later.pk]


def test_release_is_refused_while_another_open_incident_may_still_need_the_suspension(
    make_grant, live_charter, officer, a_principal, T
):
    grant = make_grant(actions=["infer"])
    incident = finding_incident(grant, a_principal, T)
    other = declare(live_charter, officer)
    by = actor_for(officer)

    with pytest.raises(ValidationError) as refused:
        incidents.incident_close(incident=incident, by=by, resolution="Explained by the partner.", release_holds=True)

    assert refused.value.message_dict["release_holds"] == [
        f"Incident #{other.pk} on the same partner is still open and may still need its grants held or suspended: "
        "close this one without releasing, or close that one first."
    ]
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.OPEN
    assert Grant.objects.get(pk=grant.pk).status == Grant.Status.SUSPENDED
    assert not Event.objects.filter(action__in=("grant.resumed", "incident.closed")).exists()

    incidents.incident_close(incident=other, by=by, resolution="Part of the same export job.")
    incidents.incident_close(incident=incident, by=by, resolution="Explained by the partner.", release_holds=True)
    assert Grant.objects.get(pk=grant.pk).status == Grant.Status.ACTIVE


# --- The checklist as the page shows it ------------------------------------------------------------------------


def row(page, position):
    """The checklist row of step ``position`` in a rendered incident page."""
    match = re.search(rf'<tr id="step-{position}">(.*?)</tr>', page, re.DOTALL)
    assert match is not None, page
    return match.group(1)


def test_the_page_marks_late_only_the_steps_the_timings_count_late(client, make_grant, live_charter, officer, T):
    make_grant()
    with time_machine.travel(T, tick=False):
        incident = declare(live_charter, officer)
    with time_machine.travel(T + timedelta(seconds=20), tick=False):
        incidents.incident_run(incident.pk)  # "at once", as a worker picks it up
    with time_machine.travel(T + timedelta(hours=50), tick=False):  # two hours past the partner's 48
        incidents.incident_step_complete(step=step(incident, 4), by=actor_for(officer), note="On a call.")
        sign_in(client, officer)
        page = shown(client.get(f"/governance/incidents/{incident.pk}/"))
        timings = incident_selectors.incident_timings(incident)
    late = [position for position in range(1, 6) if ">late<" in row(page, position)]
    assert late == [timing.position for timing in timings.steps if timing.late and timing.done_at] == [4]
    assert re.search(r"Steps on time</strong><br>\s*3 of 5", page)


def test_the_page_says_what_the_automatic_steps_did_in_sentences(client, make_grant, live_charter, officer):
    grant = make_grant()
    incident = declare(live_charter, officer)
    incidents.incident_run(incident.pk)
    incident.refresh_from_db()
    sign_in(client, officer)
    page = shown(client.get(f"/governance/incidents/{incident.pk}/"))
    assert f"Held 1 grant: #{grant.pk}." in row(page, 1)
    assert f"under legal hold in evidence bundle #{incident.evidence_id} (SHA-256 " in row(page, 2)
    told = f"Notified 2 responders ({LEGAL}, {SECURITY}) and told 1 partner admin that their access is on hold."
    assert told in row(page, 3)
    assert "{'" not in page


def test_a_drills_page_says_what_its_automatic_steps_would_have_done(client, make_grant, live_charter, officer):
    grant = make_grant()
    drill = declare(live_charter, officer, drill=True)
    incidents.incident_run(drill.pk)
    sign_in(client, officer)
    page = shown(client.get(f"/governance/incidents/{drill.pk}/"))
    assert f"Would hold 1 grant: #{grant.pk}; a drill holds nothing." in row(page, 1)
    events = step(drill, 2).result["events"]
    assert f"Would preserve {events} events since " in row(page, 2)
    told = f"Notified 2 responders ({LEGAL}, {SECURITY}), marked as a drill; the partner (1 admin) was not told."
    assert told in row(page, 3)
    assert "{'" not in page


@pytest.mark.parametrize(
    ("automatic", "result", "words"),
    [
        ("suspend_grants", {"held": [3]}, "Held 1 grant: #3."),
        ("suspend_grants", {"held": [3, 4]}, "Held 2 grants: #3, #4."),
        ("suspend_grants", {"held": []}, "Held no grant: the partner had no live grant to hold."),
        ("suspend_grants", {"drill": True, "would_hold": [3]}, "Would hold 1 grant: #3; a drill holds nothing."),
        ("suspend_grants", {"drill": True, "would_hold": []}, "Would hold no grant: the partner has no live grant."),
        (
            "preserve_evidence",
            {"evidence_bundle": 7, "content_hash": "0123456789abcdef" * 4, "since": "2026-04-01T10:00:00+00:00"},
            "Preserved the partner's events since 2026-04-01 10:00 UTC, with the incident and its findings, under "
            "legal hold in evidence bundle #7 (SHA-256 0123456789ab…).",
        ),
        (
            "preserve_evidence",
            {"drill": True, "would_preserve_events_since": "2026-04-01T10:00:00+00:00", "events": 1},
            "Would preserve 1 event since 2026-04-01 10:00 UTC; a drill makes no evidence bundle.",
        ),
        (
            "notify",
            {"told": ["a@x.example"], "partner_told": []},
            "Notified 1 responder (a@x.example); the partner has no admin to tell.",
        ),
        (
            "notify",
            {"told": ["a@x.example", "b@x.example"], "partner_told": ["p@y.example", "q@y.example"]},
            "Notified 2 responders (a@x.example, b@x.example) and told 2 partner admins that their access is on hold.",
        ),
        (
            "notify",
            {"drill": True, "told": ["a@x.example"], "partner_not_told": 0},
            "Notified 1 responder (a@x.example), marked as a drill.",
        ),
    ],
)
def test_each_automatic_result_reads_as_a_sentence(automatic, result, words):
    assert incident_selectors.step_result_in_words(IncidentStep(automatic=automatic, result=result)) == words
