"""End-to-end tests of the incident and exit pages: declaring an incident or a drill from the charter page and
working its checklist, and ending a charter with its exit plan and cancelling a destruction in its grace period.

Debian's Chromium, driven by Playwright, against the live server. The same rules as tests/e2e/test_browser.py
(``browse`` and ``log_in`` from tests/e2e/browser.py): the ORM and the services are used only before, between or
after the ``with browse() as page:`` blocks, and DJANGO_ALLOW_ASYNC_UNSAFE is not set. No Celery worker runs: the
test takes the task the page queued from the configured broker and carries it out between two blocks, as a worker
would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from audit.models import Event
from charters.models import Charter, CharterVersion
from governance.anomalies import services as anomalies
from governance.exits import services as exits
from governance.incidents import services as incidents
from governance.models import AnomalyFinding, DataKey, Exit, ExitItem, Grant, Incident, IncidentStep
from governance.tasks import exit_run as exit_task
from governance.tasks import incident_run as incident_task
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in
from tests.helpers import take_queued, used

pytestmark = [pytest.mark.browser, committing]

MakeGrant = Callable[..., Grant]
CHARTER_URL = "/registry/charters/northwind-evaluation/"
INCIDENT_URL = re.compile(r"/governance/incidents/(\d+)/$")
EXIT_URL = re.compile(r"/governance/exits/(\d+)/$")
COUNTDOWN = re.compile(r"^in \d")
CHECKLIST = [  # the model-misuse playbook of Northwind's charter, as its rows begin
    "1. Suspend the partner's grants (automatic: suspend_grants)",
    "2. Preserve evidence (automatic: preserve_evidence)",
    "3. Notify the partner and security (automatic: notify)",
    "4. Partner explains the usage",
    "5. Decide on remediation or exit",
]


def number_in(page: Page, pattern: re.Pattern[str]) -> int:
    match = pattern.search(page.url)
    assert match is not None, page.url
    return int(match.group(1))


def declare_from_the_charter_page(page: Page, *, title: str, severity: str, summary: str, drill: bool) -> int:
    page.goto(CHARTER_URL)
    page.get_by_text("Officer actions").click()  # the <details> that holds the officer's forms
    form = page.locator("form").filter(has=page.get_by_role("button", name="Declare"))
    form.get_by_role("textbox", name="Incident title").fill(title)
    form.get_by_role("combobox", name="Severity").select_option(severity)
    form.get_by_role("textbox", name="Incident summary").fill(summary)
    if drill:
        form.get_by_label("Tabletop drill").check()
    form.get_by_role("button", name="Declare").click()
    expect(page).to_have_url(INCIDENT_URL)
    return number_in(page, INCIDENT_URL)


def clocks_count_down(page: Page) -> None:
    """Every clock shows a countdown the script wrote (the server writes "2 days", not "in …"), and the script
    keeps writing it: a clock set to something else is counted again within a second or two."""
    clocks = page.locator("time[data-clock]")
    expect(clocks.first).to_be_visible()
    for index in range(clocks.count()):
        expect(clocks.nth(index)).to_have_text(COUNTDOWN)
    clocks.first.evaluate("clock => { clock.textContent = 'stale'; }")
    expect(clocks.first).to_have_text(COUNTDOWN, timeout=3_000)


def test_an_officer_declares_an_incident_the_worker_holds_the_grant_and_the_officer_works_and_closes_it(
    browse: Browse,
    make_grant: MakeGrant,
    officer: User,
) -> None:
    grant = make_grant()
    take_queued(incident_task.name)  # nothing an earlier run left in the broker counts here

    with browse() as page:
        log_in(page, officer)
        number = declare_from_the_charter_page(
            page,
            title="Prompts scraped at volume",
            severity="high",
            summary="The gateway sent ten times its usual traffic overnight.",
            drill=False,
        )
        expect(page.locator("ul.messages")).to_contain_text(
            f"Incident #{number} is open; its automatic steps are running."
        )
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Incident #{number}: Prompts scraped at volume")
        expect(page.locator(".badge.drill")).to_have_count(0)
        expect(page.get_by_role("heading", name="Checklist")).to_be_visible()
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(5)
        for index, step in enumerate(CHECKLIST):
            expect(rows.nth(index).locator("td").first).to_have_text(step)
        expect(rows.locator("td:nth-child(4)")).to_have_text(["To do"] * 5)  # no worker has run yet

    assert take_queued(incident_task.name) == [[number]]  # the page queued exactly this incident's run
    assert incidents.incident_run(number) == 3  # what the worker does with it: the three automatic steps

    with browse() as page:
        log_in(page, officer)
        page.goto(f"/governance/incidents/{number}/")
        rows = page.locator("tbody tr")
        expect(rows.locator("td:nth-child(4)")).to_have_text(["Done", "Done", "Done", "To do", "To do"])
        expect(page.locator("#step-1")).to_contain_text("by incident-playbook")
        expect(page.locator("#step-1")).to_contain_text(f"Held 1 grant: #{grant.pk}.")
        expect(page.locator("#step-3")).to_contain_text("Notified 2 responders")
        # Done by the worker moments after the declaration: within the pick-up time the deadlines allow.
        expect(page.locator("tbody .late")).to_have_count(0)
        expect(page.get_by_label("Clocks")).to_contain_text(re.compile(r"Steps on time\s*3 of 5"))
        expect(page.get_by_label("Clocks")).to_contain_text(
            re.compile(r"Notification\s+due .+\s+sent \d\d:\d\d:\d\d UTC")
        )
        expect(page.locator("time[data-clock]")).to_have_count(3)  # remediation, and steps 4 and 5
        clocks_count_down(page)

        partner_step = page.locator("#step-4")
        expect(partner_step.locator("td").nth(1)).to_have_text("Partner admin")
        note = partner_step.get_by_role("textbox", name="Note for step 4")
        expect(note).to_have_attribute("placeholder", "How they confirmed it")
        partner_step.get_by_role("button", name="Mark done").click()  # without a note the browser does not send it
        expect(note).to_have_js_property("validity.valueMissing", True)
        note.fill("Northwind's admin explained the traffic on a call: a misconfigured batch job.")
        partner_step.get_by_role("button", name="Mark done").click()

        expect(page.locator("ul.messages")).to_contain_text("Step 4 is done.")
        partner_step = page.locator("#step-4")
        expect(partner_step.locator("td").nth(3)).to_have_text("Done")
        expect(partner_step).to_contain_text("a misconfigured batch job")
        expect(partner_step.get_by_role("button", name="Mark done")).to_have_count(0)
        expect(page.locator("time[data-clock]")).to_have_count(2)  # remediation and step 5 still run

        page.get_by_role("textbox", name="Resolution").fill("A misconfigured batch job; Northwind fixed it.")
        page.get_by_role("button", name="Close the incident").click()

        expect(page.locator("ul.messages")).to_contain_text(f"#{number} is closed.")
        expect(page.locator("main .badge.closed")).to_have_text("Closed")
        expect(page.get_by_role("heading", name="Resolution")).to_be_visible()
        expect(page.get_by_text("A misconfigured batch job; Northwind fixed it.")).to_be_visible()
        expect(page.locator("#step-5 td").nth(3)).to_have_text("Not done when the incident closed")
        expect(page.locator("time[data-clock]")).to_have_count(0)  # a closed incident's clocks stop
        expect(page.get_by_role("button", name="Mark done")).to_have_count(0)
        expect(page.get_by_role("button", name="Close the incident")).to_have_count(0)

    grant.refresh_from_db()
    assert grant.held_at is not None and grant.status == Grant.Status.ACTIVE  # held, and closing did not release it
    incident = Incident.objects.get(pk=number)
    assert (incident.status, incident.drill, incident.severity) == (Incident.Status.CLOSED, False, "high")
    assert incident.resolution == "A misconfigured batch job; Northwind fixed it."
    assert incident.evidence is not None
    step4 = incident.steps.get(position=4)
    assert (step4.status, step4.done_by) == (IncidentStep.Status.DONE, officer.username)
    assert Event.objects.get(action="incident.declared").actor_id == str(officer.pk)
    assert Event.objects.filter(action="grant.held", target_id=str(grant.pk)).count() == 1
    closed = Event.objects.get(action="incident.closed")
    assert closed.details["steps_not_done"] == [5] and closed.details["released"] == []


def test_a_drill_from_the_charter_page_runs_the_checklist_and_holds_no_grant(
    browse: Browse,
    make_grant: MakeGrant,
    officer: User,
) -> None:
    grant = make_grant()
    take_queued(incident_task.name)

    with browse() as page:
        log_in(page, officer)
        number = declare_from_the_charter_page(
            page,
            title="Quarterly tabletop",
            severity="medium",
            summary="Rehearse the misuse playbook.",
            drill=True,
        )
        expect(page.locator("ul.messages")).to_contain_text(f"Drill #{number} is open")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Drill #{number}: Quarterly tabletop")

    assert take_queued(incident_task.name) == [[number]]
    assert incidents.incident_run(number) == 3

    with browse() as page:
        log_in(page, officer)
        page.goto(f"/governance/incidents/{number}/")
        expect(page.locator("main .badge.drill")).to_have_text("Drill")
        expect(page.locator("main")).to_contain_text("A tabletop exercise: no grant is held")
        expect(page.locator("tbody tr td:nth-child(4)")).to_have_text(["Done", "Done", "Done", "To do", "To do"])
        expect(page.locator("#step-1")).to_contain_text(f"Would hold 1 grant: #{grant.pk}; a drill holds nothing.")
        expect(page.locator("#step-2")).to_contain_text("a drill makes no evidence bundle")
        expect(page.get_by_text("Evidence preserved under legal hold")).to_have_count(0)
        clocks_count_down(page)
        expect(page.get_by_role("checkbox", name="Release the grants this incident held")).to_have_count(0)
        expect(page.get_by_role("button", name="Close the drill")).to_be_visible()
        page.get_by_role("link", name="All incidents and drills").click()
        row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=f"#{number}", exact=True))
        expect(row.locator(".badge.drill")).to_have_text("Drill")
        expect(row.locator("td").last).to_have_text("Open")

    after = Grant.objects.get(pk=grant.pk)
    assert (after.status, after.held_at) == (Grant.Status.ACTIVE, None)
    assert not Grant.objects.filter(held_at__isnull=False).exists()
    assert not Event.objects.filter(action="grant.held").exists()
    drill = Incident.objects.get(pk=number)
    assert drill.drill and drill.evidence is None
    assert Event.objects.filter(action="incident.drill_started").count() == 1


def test_an_anomaly_waits_on_the_officers_home_and_closing_its_incident_with_release_gives_the_grant_back(
    browse: Browse,
    make_grant: MakeGrant,
    officer: User,
    a_principal: User,
) -> None:
    grant = make_grant(actions=["infer"])  # no export_outputs: export attempts are denied
    used(a_principal, grant.asset_version.fingerprint, 3, action="export_outputs")
    [finding] = anomalies.anomalies_check()
    number = AnomalyFinding.objects.get(pk=finding.pk).incident_id
    assert number is not None
    take_queued(incident_task.name)
    assert incidents.incident_run(number) == 3
    [refused] = used(a_principal, grant.asset_version.fingerprint, 1)
    message = refused.reasons[0]["message"]
    assert message.startswith(f"The grant was suspended automatically after anomaly finding #{finding.pk}")

    with browse() as page:
        log_in(page, officer)
        page.goto("/")  # the officer's home: the finding and its incident wait there, each a link to act on
        findings = page.locator("#findings")
        expect(findings).to_contain_text(f"export-probing (medium) on grant #{grant.pk}")
        expect(page.locator("#incidents")).to_contain_text(f"Incident #{number} on northwind-evaluation")
        findings.get_by_role("link").first.click()
        expect(page).to_have_url(re.compile(rf"/governance/incidents/{number}/$"))
        expect(page.get_by_role("heading", name="Anomaly findings")).to_be_visible()
        page.get_by_role("textbox", name="Resolution").fill("A misconfigured export job; Northwind switched it off.")
        page.get_by_role("checkbox", name="Release the grants this incident held").check()
        page.get_by_role("button", name="Close the incident").click()
        expect(page.locator("ul.messages")).to_contain_text(f"#{number} is closed.")
        expect(page.locator("main .badge.closed")).to_have_text("Closed")
        page.goto("/")
        expect(page.locator("#incidents")).not_to_contain_text(f"Incident #{number}")

    grant.refresh_from_db()
    assert (grant.status, grant.held_at) == (Grant.Status.ACTIVE, None)
    closed = Event.objects.get(action="incident.closed")
    assert (closed.details["released"], closed.details["resumed"]) == ([grant.pk], [grant.pk])
    assert used(a_principal, grant.asset_version.fingerprint, 1)[0].allow is True


def test_an_officer_ends_the_charter_runs_the_exit_and_cancels_one_scheduled_destruction(
    browse: Browse,
    live_charter: CharterVersion,
    northwind_holdings: dict[str, Any],
    officer: User,
    second_officer: User,
) -> None:
    model_key = DataKey.objects.get(pk=northwind_holdings["model"].data_key_id)
    dataset_key = DataKey.objects.get(pk=northwind_holdings["dataset"].data_key_id)
    take_queued(exit_task.name)

    with browse() as page:
        log_in(page, officer)
        page.goto(CHARTER_URL)
        page.get_by_text("Officer actions").click()
        page.get_by_role("button", name="End and run the exit plan…").click()

        expect(page).to_have_url(re.compile(r"/governance/charters/northwind-evaluation/exit/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "End charter northwind-evaluation and run its exit plan"
        )
        lines = page.locator("tbody tr")
        expect(lines).to_have_count(4)
        expect(lines.locator("td:first-child")).to_contain_text(
            [
                "northwind-eval-suite 1.0",
                "atlas-7b 1.0 (every model)",
                "clinical-notes-deid 2026-09 (every dataset)",
                "Outputs produced for Northwind Labs",
            ]
        )
        expect(lines.filter(has_text="atlas-7b 1.0 (every model)").locator("td")).to_contain_text(
            ["atlas-7b 1.0", "destroy", "0 days", "1"]
        )
        expect(lines.filter(has_text="northwind-eval-suite 1.0").locator("td")).to_contain_text(
            ["northwind-eval-suite", "retain", "365 days", "1"]
        )
        propose = page.get_by_role("button", name="Propose ending it")
        propose.click()  # without a reason the browser does not send the form
        reason = page.get_by_role("textbox", name="Reason")
        expect(reason).to_have_js_property("validity.valueMissing", True)
        reason.fill("The evaluation is finished.")
        propose.click()
        expect(page).to_have_url(re.compile(r"/proposals/\d+/$"))
        expect(page.locator("#plan li").first).to_have_text(
            "Charter northwind-evaluation is terminated: from the confirmation on, every decision under it is denied."
        )

    with browse() as page:
        log_in(page, second_officer)
        go(page, "Proposals")
        page.locator("#waiting").get_by_role("link").click()
        page.get_by_role("button", name="Confirm: carry this out now").click()

        expect(page).to_have_url(EXIT_URL)
        number = number_in(page, EXIT_URL)
        expect(page.locator("ul.messages")).to_contain_text(
            "Charter northwind-evaluation is terminated and its exit has started."
        )
        expect(page.locator("main .badge.revoking")).to_have_text("Revoking access")
        expect(page.get_by_role("button", name="Cancel destruction")).to_have_count(0)  # no worker has run yet

    assert take_queued(exit_task.name) == [[number]]  # the page queued exactly this exit for a worker
    assert exits.exit_run(number).status == Exit.Status.WINDING_DOWN  # what the worker does with it

    with browse() as page:
        log_in(page, officer)
        page.goto(f"/governance/exits/{number}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Exit of northwind-evaluation")
        expect(page.locator("main .badge.winding_down")).to_have_text("Disposing of assets")
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
        model = page.locator("tbody tr").filter(has_text="atlas-7b 1.0 (every model)")
        dataset = page.locator("tbody tr").filter(has_text="clinical-notes-deid 2026-09 (every dataset)")
        expect(model.locator("td").nth(2)).to_have_text("Destruction scheduled")
        expect(dataset.locator("td").nth(2)).to_have_text("Destruction scheduled")
        expect(page.get_by_role("button", name="Cancel destruction")).to_have_count(3)  # model, dataset, suite
        clocks_count_down(page)

        cancel = model.locator("form").filter(has=page.get_by_role("button", name="Cancel destruction"))
        keep = cancel.get_by_role("textbox", name=f"Reason to keep {model_key.key_id}")
        cancel.get_by_role("button", name="Cancel destruction").click()  # without a reason it is not sent
        expect(keep).to_have_js_property("validity.valueMissing", True)
        keep.fill("Legal asked us to keep it.")
        cancel.get_by_role("button", name="Cancel destruction").click()

        expect(page).to_have_url(re.compile(rf"/governance/exits/{number}/$"))
        expect(page.locator("ul.messages")).to_contain_text(
            f"The destruction of data key {model_key.key_id} is cancelled; its files are kept."
        )
        model = page.locator("tbody tr").filter(has_text="atlas-7b 1.0 (every model)")
        expect(model.locator("td").nth(2)).to_contain_text("Destruction cancelled")
        expect(model.locator("td").nth(2)).to_contain_text("Legal asked us to keep it.")
        expect(model.get_by_role("button", name="Cancel destruction")).to_have_count(0)
        expect(model.locator("time[data-clock]")).to_have_count(0)
        expect(dataset.locator("td").nth(2)).to_have_text("Destruction scheduled")  # the other line is untouched
        expect(page.get_by_role("button", name="Cancel destruction")).to_have_count(2)

    model_key.refresh_from_db()
    dataset_key.refresh_from_db()
    assert (model_key.status, model_key.destroy_after) == (DataKey.Status.ACTIVE, None)
    assert dataset_key.status == DataKey.Status.PENDING_DESTRUCTION
    item = ExitItem.objects.filter(keys=model_key).first()
    assert item is not None
    assert item.status == ExitItem.Status.KEPT and "Legal asked us to keep it." in item.note
    assert Charter.objects.get(pk=live_charter.charter.pk).status == "terminated"
    assert {grant.status for grant in Grant.objects.filter(charter=live_charter.charter)} == {"revoked"}
    cancelled = Event.objects.get(action="data_key.destruction_cancelled")
    assert (cancelled.actor_id, cancelled.reason) == (str(officer.pk), "Legal asked us to keep it.")
    started = Event.objects.get(action="exit.started")
    assert (started.actor_id, started.details["proposal"]["proposed_by"]) == (str(second_officer.pk), "olivia")
