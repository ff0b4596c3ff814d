"""End-to-end tests of the policy pages: rolling back to a bundle, and a what-if replay before approving a version.

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
from charters.models import CharterVersion
from governance.decisions.services import DecisionRequest, decide_batch
from governance.models import Grant, PolicyBundle, WhatIfRun
from governance.policy.bundles import bundles_record
from governance.tasks import whatif_run as whatif_task
from governance.whatif.services import whatif_run
from tests.conftest import Caller, committing
from tests.e2e.browser import Browse, go, log_in
from tests.helpers import decide, status_of, take_queued
from tests.world import example, in_review

pytestmark = [pytest.mark.browser, committing]

MakeGrant = Callable[..., Grant]
RUN_URL = re.compile(r"/governance/what-if/(\d+)/$")
EXPLAIN_URL = re.compile(r"^/governance/decisions/explain/\?decision=[0-9a-f]{32}$")


def without_export_outputs() -> dict[str, Any]:
    """Northwind's charter with export_outputs taken away: a restriction whose what-if flips allows to denies."""
    document = example()
    document["actions"]["model"] = [e for e in document["actions"]["model"] if e["action"] != "export_outputs"]
    return document


def version_url(version: CharterVersion) -> str:
    return f"/registry/charters/{version.charter.slug}/v{version.number}/"


def run_number(page: Page) -> int:
    match = RUN_URL.search(page.url)
    assert match is not None, page.url
    return int(match.group(1))


def take_queued_runs() -> list[Any]:
    """The what-if runs the page queued, taken from the configured broker as a worker would."""
    return take_queued(whatif_task.name)


def test_an_officer_proposes_a_rollback_a_second_confirms_it_and_the_grant_approved_since_is_suspended(
    browse: Browse,
    before: tuple[Grant, Grant, PolicyBundle],
    make_grant: MakeGrant,
    officer: User,
    second_officer: User,
    a_principal: User,
    atlas: str,
    api_as: Callable[[User], Caller],
) -> None:
    kept, doomed, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])  # the approval to undo
    bundles_record()  # the worker records the policy as it is now, too
    assert PolicyBundle.objects.first() != bundle
    gateway = api_as(a_principal)
    assert decide(gateway, atlas)["allow"] is True  # infer for benchmarking: only the added grant allows it

    with browse() as page:
        log_in(page, officer)
        go(page, "Policy")
        expect(page).to_have_url(re.compile(r"/governance/bundles/$"))
        row = page.locator("tbody tr").filter(has=page.get_by_role("cell", name=str(bundle.seq), exact=True))
        row.get_by_role("link", name=bundle.hash[:16]).click()

        expect(page).to_have_url(re.compile(rf"/governance/bundles/{bundle.hash[:16]}/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Policy bundle {bundle.hash[:16]}")
        page.get_by_role("button", name="Roll back to this bundle…").click()

        expect(page).to_have_url(re.compile(rf"/governance/bundles/{bundle.seq}/rollback/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Roll back to bundle {bundle.hash[:16]}")
        expect(page.get_by_role("heading", name="Suspended (1)")).to_be_visible()
        expect(page.get_by_role("heading", name="Resumed (0)")).to_be_visible()
        expect(page.get_by_role("heading", name="Not restored (0)")).to_be_visible()
        steps = page.locator("tbody tr")
        expect(steps).to_have_count(1)  # the suspension is the only step; kept and doomed stay as they are
        expect(steps.locator("td")).to_have_text(
            [
                f"#{added.pk}",
                "northwind-gateway",
                "northwind",
                "northwind-evaluation",
                "not active (not yet approved)",
                "active",
            ]
        )
        propose = page.get_by_role("button", name="Propose the rollback: 1 suspended, 0 resumed")

        propose.click()  # without a reason the browser does not send the form
        reason = page.get_by_role("textbox", name="Reason")
        expect(reason).to_have_js_property("validity.valueMissing", True)
        expect(page).to_have_url(re.compile(rf"/governance/bundles/{bundle.seq}/rollback/$"))
        expect(page.locator("ul.messages")).to_have_count(0)

        reason.fill("Approved for the wrong purpose.")
        propose.click()
        expect(page).to_have_url(re.compile(r"/proposals/\d+/$"))
        expect(page.locator("ul.messages")).to_contain_text("Nothing happens until another officer confirms it")
        expect(page.locator("#plan li")).to_have_text(
            [
                f"Suspend grant #{added.pk} (northwind-gateway, charter northwind-evaluation): "
                "not yet approved in the bundle, active now."
            ]
        )
        expect(page.get_by_role("button", name="Confirm: carry this out now")).to_have_count(0)  # not by Olivia

    assert status_of(added) == Grant.Status.ACTIVE  # proposing changed nothing

    with browse() as page:
        log_in(page, second_officer)
        go(page, "Proposals")
        waiting = page.locator("#waiting tbody tr")
        expect(waiting).to_have_count(1)
        waiting.get_by_role("link").click()
        expect(page.locator("#reason")).to_have_text("Approved for the wrong purpose.")
        page.get_by_role("button", name="Confirm: carry this out now").click()
        expect(page).to_have_url(re.compile(rf"/governance/bundles/{bundle.seq}/$"))
        expect(page.locator("ul.messages")).to_contain_text(
            "Rolled back: 1 grant(s) suspended, 0 resumed. Exactly what the bundle allowed is allowed again"
        )
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Policy bundle {bundle.hash[:16]}")

    assert status_of(added) == Grant.Status.SUSPENDED
    assert status_of(kept) == status_of(doomed) == Grant.Status.ACTIVE
    assert decide(gateway, atlas)["allow"] is False
    suspended = Event.objects.get(action="grant.suspended", target_id=str(added.pk))
    assert suspended.reason == (
        f"Rollback to bundle {bundle.hash[:12]} (change {bundle.seq}): Approved for the wrong purpose."
    )
    rolled = Event.objects.get(action="policy.rolled_back")
    assert (rolled.actor_id, rolled.reason) == (str(second_officer.pk), "Approved for the wrong purpose.")
    assert (rolled.details["proposal"]["proposed_by"], rolled.details["proposal"]["confirmed_by"]) == (
        "olivia",
        "oscar",
    )
    details = rolled.details
    assert (details["seq"], details["suspended"], details["resumed"]) == (bundle.seq, [added.pk], [])


def test_a_second_officer_runs_a_what_if_on_a_version_in_review_and_reads_which_decisions_would_flip(
    browse: Browse,
    make_grant: MakeGrant,
    officer: User,
    second_officer: User,
    a_principal: User,
    b_principal: User,
    atlas: str,
) -> None:
    make_grant(actions=["infer", "export_outputs"], purposes=["benchmarking"])
    exported, inferred, evaluated = (
        DecisionRequest(action, atlas, "benchmarking") for action in ("export_outputs", "infer", "evaluate")
    )
    northwind: list[DecisionRequest | str] = [exported, exported, exported, inferred, inferred, evaluated]
    helix: list[DecisionRequest | str] = [inferred, inferred]
    recorded = decide_batch(a_principal, northwind)
    assert [decision.allow for decision in recorded] == [True] * 5 + [False]
    assert not any(decision.allow for decision in decide_batch(b_principal, helix))  # Helix has no charter
    version = in_review(without_export_outputs(), officer)

    with browse() as page:
        log_in(page, second_officer)
        page.goto(version_url(version))
        expect(page.get_by_role("heading", level=1)).to_have_text("northwind-evaluation · version 2")
        expect(page.get_by_role("button", name="Approve and activate")).to_be_visible()
        whatif = page.locator("article").filter(
            has=page.get_by_role("heading", name="Before approving: what would this version change?")
        )
        whatif.get_by_role("spinbutton", name="Days of decisions to replay").fill("7")
        whatif.get_by_role("button", name="Run what-if").click()

        expect(page).to_have_url(RUN_URL)
        number = run_number(page)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"What-if #{number}")
        expect(page.locator("main")).to_contain_text("the last 7 day(s) of recorded decisions · asked by oscar")
        expect(page.get_by_role("link", name="northwind-evaluation version 2")).to_have_attribute(
            "href", version_url(version)
        )
        expect(page.locator(".badge.queued")).to_have_text("Queued")
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_attribute("content", "2")
        page.evaluate("window.notRefreshedYet = true")
        with page.expect_event("load", timeout=5_000):
            pass  # the page's refresh reloads it (a wait_for_function predicate would be an eval the CSP refuses)
        assert page.evaluate("window.notRefreshedYet") is None  # a new document: it reloaded itself
        expect(page.locator(".badge.queued")).to_have_text("Queued")  # and, with no worker, still waits
        expect(page.get_by_role("heading", name=re.compile("would flip"))).to_have_count(0)

    assert take_queued_runs() == [[number]]  # the page queued exactly this run for a worker
    run = whatif_run(number)  # what the worker does with it
    assert (run.status, run.days, run.charter_version, run.requested_by) == ("done", 7, version, second_officer)

    with browse() as page:
        log_in(page, second_officer)
        page.goto(f"/governance/what-if/{number}/")
        expect(page.get_by_role("heading", level=2)).to_have_text("3 of 8 decisions would flip")
        expect(page.locator("main")).to_contain_text("3 from allow to deny, 0 from deny to allow; 4 distinct requests")
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)  # done: no more refreshing
        expect(page.locator(".badge.queued")).to_have_count(0)

        partners = page.locator("table").filter(has=page.get_by_role("columnheader", name="Would flip"))
        expect(partners.locator("thead th")).to_have_text(["Partner", "Replayed", "Would flip", "To deny", "To allow"])
        expect(partners.locator("tbody tr")).to_have_count(2)
        expect(partners.locator("tbody tr").filter(has_text="northwind").locator("td")).to_have_text(
            ["northwind", "6", "3", "3", "0"]
        )
        expect(partners.locator("tbody tr").filter(has_text="helix").locator("td")).to_have_text(
            ["helix", "2", "0", "0", "0"]
        )

        expect(page.get_by_role("heading", level=3)).to_have_text(["northwind: for example"])  # none for Helix
        examples = page.locator("table").filter(has=page.get_by_role("columnheader", name="With the change"))
        example_row = examples.locator("tbody tr")
        expect(example_row).to_have_count(1)  # the three exports are one distinct request
        expect(example_row.locator("td")).to_have_text(
            [
                re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
                "northwind-gateway",
                "export_outputs atlas-7b 1.0 for benchmarking",  # the asset by name, not its fingerprint
                "allow",
                "action_not_permitted",
                "explain",
            ]
        )
        explain = example_row.get_by_role("link", name="explain")
        expect(explain).to_have_attribute("href", EXPLAIN_URL)
        decision_id = (explain.get_attribute("href") or "").rsplit("=", 1)[-1]
        explain.click()

        expect(page.get_by_role("heading", level=1)).to_have_text(f"Decision {decision_id}")
        expect(page.locator("main")).to_contain_text("allowed")
        expect(page.get_by_role("row", name="Action")).to_contain_text("export_outputs")

    assert decision_id in {decision.decision_id for decision in recorded[:3]}  # one of the recorded exports
    version.refresh_from_db()
    assert version.status == CharterVersion.Status.IN_REVIEW  # a what-if changes nothing
    assert sorted(Grant.objects.get(principal=a_principal).actions) == ["export_outputs", "infer"]


def test_a_what_if_over_5000_days_is_refused_on_the_version_page_and_queues_nothing(
    browse: Browse,
    live_charter: CharterVersion,
    officer: User,
    settings: Any,
) -> None:
    settings.ACCORD_WHATIF_MAX_DAYS = 90  # the default, whatever the environment says
    version = in_review(without_export_outputs(), officer)
    with browse() as page:
        log_in(page, officer)
        page.goto(version_url(version))
        page.get_by_role("spinbutton", name="Days of decisions to replay").fill("5000")
        page.get_by_role("button", name="Run what-if").click()

        expect(page).to_have_url(re.compile(rf"{version_url(version)}$"))
        expect(page.locator("ul.messages")).to_contain_text("Replay between 1 and 90 days of decisions (asked: 5000)")
        expect(page.get_by_role("heading", name="Before approving: what would this version change?")).to_be_visible()
        page.get_by_role("link", name="Earlier what-if reports for this version").click()
        expect(page).to_have_url(re.compile(rf"/governance/what-if/\?version={version.pk}$"))
        expect(page.get_by_text("No what-if has been run yet.")).to_be_visible()

    assert not WhatIfRun.objects.exists()
    assert take_queued_runs() == []
