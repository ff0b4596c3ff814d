"""End-to-end tests of pages for people (issue 24): a destructive button asks first, diffs are coloured, and the
trail's exports refresh without wiping what a person typed.

Debian's Chromium, driven by Playwright, against the live server; the same rules as tests/e2e/test_browser.py: the
ORM is touched only before or after each ``with browse() as page:`` block.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ApiToken, User
from accounts.services import actor_for, api_token_issue
from audit.models import ExportJob
from charters.models import CharterVersion
from governance.grants.services import grant_suspend
from governance.models import Grant, PolicyBundle
from governance.policy.bundles import bundles_record
from tests.conftest import SETUP, committing
from tests.e2e.browser import Browse, confirmations, log_in
from tests.world import example, in_review

pytestmark = [pytest.mark.browser, committing]

GREEN, RED = "rgb(230, 244, 234)", "rgb(253, 232, 232)"  # .diff_add and .diff_sub in static/accord/accord.css


def background(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("element => getComputedStyle(element).backgroundColor"))


def test_an_officer_revokes_a_principals_token_and_is_asked_first(
    browse: Browse, officer: User, a_principal: User
) -> None:
    token, _ = api_token_issue(user=a_principal, name="eval gateway", by=actor_for(officer))
    with browse() as page:
        log_in(page, officer)
        page.goto("/account/tokens/")
        row = page.locator("tbody tr").filter(has_text=f"{token.prefix}…")
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator("ul.messages")).to_contain_text(f"Token {token.prefix}… (eval gateway) is revoked")
        assert confirmations(page) == [
            f"Revoke token {token.prefix}… (eval gateway) of northwind-gateway? It stops working at once, and "
            "cannot be used again."
        ]
    token.refresh_from_db()
    assert token.revoked_at is not None and ApiToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_saying_no_to_the_question_leaves_the_token_working(browse: Browse, officer: User, a_principal: User) -> None:
    token, _ = api_token_issue(user=a_principal, name="eval gateway", by=actor_for(officer))
    with browse() as page:
        log_in(page, officer)
        page.goto("/account/tokens/")
        page.evaluate("window.confirm = () => false")  # the person says no (the harness would say yes)
        page.locator("tbody tr").filter(has_text=f"{token.prefix}…").get_by_role("button", name="Revoke").click()
        expect(page.locator("ul.messages")).to_have_count(0)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_charter_and_bundle_diffs_show_added_lines_green_and_removed_ones_red(
    browse: Browse,
    live_charter: CharterVersion,
    make_grant: Callable[..., Grant],
    officer: User,
) -> None:
    document = example()
    document["title"] = "Atlas safety evaluation, second year"
    document["actions"]["model"] = [e for e in document["actions"]["model"] if e["action"] != "export_outputs"]
    in_review(document, officer)  # version 2: a new title, and export_outputs taken away
    bundles_record()
    grant = make_grant()
    bundles_record()
    before = PolicyBundle.objects.latest("seq")
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")  # its allow lines go, deny lines come
    bundles_record()
    after = PolicyBundle.objects.latest("seq")
    with browse() as page:
        log_in(page, officer)
        page.goto("/registry/charters/northwind-evaluation/diff/?a=1&b=2")
        expect(page.locator("table.diff")).to_be_visible()
        expect(page.locator("table.diff .diff_sub", has_text="- action: export_outputs")).to_be_visible()
        assert background(page, "table.diff .diff_sub") == RED  # the lines version 2 takes away
        expect(page.locator("table.diff .diff_add")).to_contain_text("title: Atlas safety evaluation, second year")
        assert background(page, "table.diff .diff_add") == GREEN  # the title it writes instead

        page.goto(f"/governance/bundles/diff/?from={before.seq}&to={after.seq}")
        added = page.locator("td.diff_add", has_text="+ added")
        removed = page.locator("td.diff_sub", has_text="- removed")
        expect(added).to_have_count(4)
        expect(removed).to_have_count(4)
        assert background(page, "td.diff_add") == GREEN and background(page, "td.diff_sub") == RED
        rows = page.locator("table.policy-lines tbody tr")
        expect(rows.first).not_to_contain_text("user:", use_inner_text=True)  # what shows, before a click
        page.locator("table.policy-lines summary").first.click()  # the raw line, one click away
        expect(page.locator("table.policy-lines details[open] code")).to_contain_text(f"user:{grant.principal_id}")


def test_the_trail_refreshes_its_exports_but_keeps_what_a_person_typed(browse: Browse, auditor: User) -> None:
    with browse() as page:
        log_in(page, auditor)
        page.goto("/trail/")
        page.locator("#export").get_by_role("button", name="Export").click()
        expect(page.locator("ul.messages")).to_contain_text("Export queued")
        expect(page.locator("#exports .badge.queued")).to_be_visible()
        search = page.locator("#trail-search")
        search.get_by_label("Actor").fill("olivia")  # typed, not yet searched
        page.locator("#export").get_by_label("Partner to export").fill("northwind")
        for _ in range(2):  # no worker runs: the exports keep waiting, and their list keeps refreshing
            with page.expect_response(re.compile(r"/trail/\?part=exports$"), timeout=10_000):
                pass
        expect(page.locator("#exports .badge.queued")).to_be_visible()
        expect(search.get_by_label("Actor")).to_have_value("olivia")
        expect(page.locator("#export").get_by_label("Partner to export")).to_have_value("northwind")
        expect(page).to_have_url(re.compile(r"/trail/$"))  # the page itself was never reloaded
    assert ExportJob.objects.get().status == ExportJob.Status.QUEUED
