"""End-to-end tests of the charter pages: Debian's Chromium, driven by Playwright, against the live server.

The same rules as tests/e2e/test_browser.py (``browse`` and ``log_in`` from tests/e2e/browser.py): the ORM is
touched only before or after each ``with browse() as page:`` block, and DJANGO_ALLOW_ASYNC_UNSAFE is not set.
Playwright's sync API cannot be nested in one thread, so a second person's session is a second block.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Partner, User
from accounts.services import actor_for
from charters.models import Charter, CharterAcknowledgement, CharterVersion
from charters.services.charters import charter_apply, charter_version_approve, charter_version_submit
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in

pytestmark = [pytest.mark.browser, committing]

CharterText = Callable[..., str]
CHARTER_URL = re.compile(r"/registry/charters/northwind-evaluation/$")


def type_charter(page: Page, text: str) -> None:
    """Replace the charter in the YAML editor as a person does: select everything, then type (paste) the text."""
    page.get_by_role("textbox", name="Charter (YAML)").focus()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def test_an_officer_writes_and_submits_a_charter_and_only_a_second_officer_can_approve_it(
    browse: Browse,
    officer: User,
    second_officer: User,
    charter_text: CharterText,
) -> None:
    title = "Atlas safety evaluation, written in the browser"
    text = charter_text(lambda document: document.update(title=title))
    with browse() as page:
        log_in(page, officer)
        go(page, "Charters")
        expect(page).to_have_url(re.compile(r"/registry/charters/$"))
        page.get_by_role("button", name="Write a charter").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/new/$"))
        expect(page.locator("#document")).to_have_value(re.compile(r"^name: northwind-evaluation$", re.MULTILINE))
        type_charter(page, text)
        page.get_by_role("button", name="Save draft").click()

        expect(page).to_have_url(CHARTER_URL)
        expect(page.locator("ul.messages")).to_contain_text("Charter northwind-evaluation saved as draft version 1.")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        page.get_by_role("link", name="v1", exact=True).click()

        expect(page).to_have_url(re.compile(r"/registry/charters/northwind-evaluation/v1/$"))
        page.get_by_role("button", name="Submit for review").click()
        expect(page.locator("ul.messages")).to_contain_text("Version 1 is in review.")
        expect(page.get_by_text("another officer approves it (two-person rule)")).to_be_visible()
        expect(page.get_by_role("button", name="Approve and activate")).to_have_count(0)
        expect(page.get_by_role("button", name="Submit for review")).to_have_count(0)

    with browse() as page:
        log_in(page, second_officer)
        page.goto("/registry/charters/northwind-evaluation/v1/")
        expect(page.get_by_text("two-person rule")).to_have_count(0)
        expect(page.get_by_role("button", name="Send back to draft")).to_be_visible()
        page.get_by_role("button", name="Approve and activate").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/northwind-evaluation/v1/$"))
        expect(page.locator("ul.messages")).to_contain_text(
            "Version 1 is active. The partner admin is asked to accept it."
        )
        expect(page.get_by_role("button", name="Approve and activate")).to_have_count(0)
        expect(page.locator("hgroup")).to_contain_text(f"written by {officer.username}, approved by oscar")
        expect(page.locator("#charter-yaml")).to_contain_text(f"title: {title}")

    version = CharterVersion.objects.select_related("charter").get(charter__slug="northwind-evaluation")
    assert (version.number, version.status) == (1, CharterVersion.Status.ACTIVE)
    assert (version.author, version.approved_by) == (officer, second_officer)
    assert version.charter.status == Charter.Status.ACTIVE
    assert version.charter.active_version == version
    assert version.document["title"] == title


def test_a_charter_that_shares_a_proprietary_asset_shows_the_problem_and_saves_nothing(
    browse: Browse,
    officer: User,
    charter_text: CharterText,
) -> None:
    text = charter_text(lambda d: d["assets"]["shareable"].append({"asset": "atlas-70b", "version": "2.0"}))
    with browse() as page:
        log_in(page, officer)
        page.goto("/registry/charters/new/")
        type_charter(page, text)
        page.get_by_role("button", name="Save draft").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/new/$"))
        problems = page.locator("#problems")
        expect(problems).to_contain_text("Nothing was saved")
        expect(problems).to_contain_text("atlas-70b")
        expect(problems).to_contain_text("classified proprietary")
        # What was typed comes back to be fixed (the editor keeps its textarea in step; the browser drops the newline
        # the template puts after the textarea's opening tag).
        expect(page.locator("#document")).to_have_value(text)
        expect(page.locator("ul.messages")).to_have_count(0)

        go(page, "Charters")
        expect(page.get_by_text("No charters yet.")).to_be_visible()

    assert not Charter.objects.exists()
    assert not CharterVersion.objects.exists()


def test_partner_a_admin_accepts_the_active_charter_only_after_confirming_the_training(
    browse: Browse,
    officer: User,
    second_officer: User,
    a_admin: User,
    partner_a: Partner,
    charter_text: CharterText,
) -> None:
    version = charter_apply(text=charter_text(), by=actor_for(officer))
    assert version is not None
    charter_version_submit(version=version, by=actor_for(officer))
    charter_version_approve(version=version, by=actor_for(second_officer))
    with browse() as page:
        log_in(page, a_admin)
        go(page, "Charters")
        page.get_by_role("link", name="northwind-evaluation").click()
        expect(page).to_have_url(CHARTER_URL)
        expect(page.get_by_text("The active version is not accepted yet")).to_be_visible()
        page.get_by_role("button", name="Review and accept version 1").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/northwind-evaluation/accept/$"))
        training = page.get_by_role("checkbox", name="I completed responsible-evaluation (version 2026.2)")
        expect(training).not_to_be_checked()
        expect(page.get_by_role("link", name="responsible-evaluation")).to_have_attribute(
            "href", "https://training.meridian.example/responsible-evaluation"
        )
        page.get_by_role("button", name="Accept version 1").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/northwind-evaluation/accept/$"))
        expect(page.locator("ul.messages")).to_contain_text(
            "Confirm each required training first: responsible-evaluation."
        )
        training.check()
        page.get_by_role("button", name="Accept version 1").click()

        expect(page).to_have_url(CHARTER_URL)
        expect(page.locator("ul.messages")).to_contain_text("You accepted version 1 of northwind-evaluation.")
        expect(page.get_by_role("listitem").filter(has_text=f"{a_admin.username} accepted v1")).to_have_count(1)

    acknowledgement = CharterAcknowledgement.objects.get()
    assert (acknowledgement.version, acknowledgement.partner_admin) == (version, a_admin)
    assert (acknowledgement.content_hash, acknowledgement.covers) == (version.agreement_hash, "agreement")
    assert acknowledgement.trainings == [{"name": "responsible-evaluation", "version": "2026.2"}]
    assert version.charter.partner == partner_a
