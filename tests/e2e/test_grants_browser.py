"""End-to-end tests of the grant pages: Debian's Chromium, driven by Playwright, against the live server.

The same rules as tests/e2e/test_browser.py (``browse`` and ``log_in`` from tests/e2e/browser.py): the ORM and
the API client are used only before, between or after the ``with browse() as page:`` blocks, and
DJANGO_ALLOW_ASYNC_UNSAFE is not set. The partner admin and the officer are two people, so two blocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from charters.models import CharterVersion
from governance.models import Grant
from tests.conftest import Caller, committing
from tests.e2e.browser import Browse, go, log_in
from tests.helpers import decide
from tests.world import CHARTER_FROM

pytestmark = [pytest.mark.browser, committing]

GRANTS_URL = re.compile(r"/grants/$")
REQUEST_URL = re.compile(r"/grants/request/$")
# The requested window: inside the live charter's, today among its days, so the approved grant allows.
VALID_FROM = CHARTER_FROM + timedelta(days=30)
VALID_UNTIL = CHARTER_FROM + timedelta(days=150)


def fill_request(page: Page, *, action: str) -> None:
    """Fill the request form for northwind-gateway on atlas-7b 1.0: ``action`` for benchmarking, VALID_FROM to
    VALID_UNTIL."""
    page.get_by_label("Principal").select_option("northwind-gateway")
    page.get_by_label("Asset version").select_option(label="atlas-7b 1.0 (shareable)")
    page.locator(f"input[name=actions][value={action}]").check()
    page.locator("input[name=purposes][value=benchmarking]").check()
    page.get_by_label("Valid from").fill(VALID_FROM.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Valid until").fill(VALID_UNTIL.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Daily quota").fill("10")
    page.get_by_label("Monthly quota").fill("100")
    page.get_by_label("Rate per minute").fill("5")
    page.get_by_label("Justification").fill("Capability benchmarks for the joint paper.")


def test_a_partner_admin_requests_a_grant_and_an_officer_approves_it_from_the_queue(
    browse: Browse,
    officer: User,
    a_admin: User,
    a_principal: User,
    live_charter: CharterVersion,
    atlas: str,
    api_as: Callable[[User], Caller],
) -> None:
    gateway = api_as(a_principal)
    with browse() as page:
        log_in(page, a_admin)
        go(page, "Grants")
        expect(page).to_have_url(GRANTS_URL)
        expect(page.get_by_role("heading", level=1)).to_have_text("Grants")
        page.get_by_role("button", name="Request a grant").click()

        expect(page).to_have_url(REQUEST_URL)
        fill_request(page, action="infer")
        page.get_by_role("button", name="Request", exact=True).click()

        expect(page).to_have_url(GRANTS_URL)
        requested = page.locator("ul.messages")
        expect(requested).to_contain_text(re.compile(r"Grant #\d+ requested\. An officer reviews it\."))
        match = re.search(r"Grant #(\d+)", requested.inner_text())
        assert match is not None
        number = match.group(1)
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # partner admins do not decide

    assert decide(gateway, atlas)["allow"] is False  # requested is not yet granted

    with browse() as page:
        log_in(page, officer)
        go(page, "Grants")
        expect(page).to_have_url(GRANTS_URL)
        expect(page.get_by_role("heading", level=1)).to_have_text("Grant requests to decide")
        expect(page.get_by_label("Status")).to_have_value("requested")
        row = page.locator("tbody tr").filter(has=page.get_by_role("cell", name=number, exact=True))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("northwind-gateway")
        expect(row).to_contain_text("atlas-7b 1.0")
        expect(row).to_contain_text("infer")
        expect(row).to_contain_text("benchmarking")
        expect(row).to_contain_text(f"{VALID_FROM:%Y-%m-%d} → {VALID_UNTIL:%Y-%m-%d}")
        expect(row).to_contain_text("by northwind-admin")
        row.get_by_role("button", name="Approve").click()

        expect(page).to_have_url(GRANTS_URL)
        expect(page.locator("ul.messages")).to_contain_text(f"Grant #{number} is active.")
        expect(page.get_by_text("No grants requested.")).to_be_visible()  # the queue is empty again
        page.get_by_label("Status").select_option("active")
        expect(page).to_have_url(re.compile(r"/grants/\?status=active$"))
        active = page.locator("tbody tr").filter(has=page.get_by_role("cell", name=number, exact=True))
        expect(active.get_by_role("button", name="Suspend")).to_be_visible()
        expect(active.get_by_role("textbox", name="Reason to revoke")).to_be_visible()

    grant = Grant.objects.get()
    assert str(grant.pk) == number
    assert grant.status == Grant.Status.ACTIVE
    assert (grant.requested_by, grant.approved_by, grant.principal) == (a_admin, officer, a_principal)
    assert grant.charter_version == live_charter
    assert grant.asset_version.fingerprint == atlas
    assert (grant.actions, grant.purposes) == (["infer"], ["benchmarking"])
    assert (grant.valid_from, grant.valid_until) == (VALID_FROM, VALID_UNTIL)
    assert (grant.daily_quota, grant.monthly_quota, grant.rate_per_minute) == (10, 100, 5)
    assert decide(gateway, atlas)["allow"] is True


def test_a_request_for_download_weights_shows_the_charters_refusal_and_saves_nothing(
    browse: Browse,
    a_admin: User,
    a_principal: User,
    live_charter: CharterVersion,
) -> None:
    with browse() as page:
        log_in(page, a_admin)
        page.goto("/grants/request/")
        fill_request(page, action="download_weights")
        page.get_by_role("button", name="Request", exact=True).click()

        expect(page).to_have_url(REQUEST_URL)
        actions = page.get_by_role("group", name="Actions")
        expect(actions.locator(".errorlist")).to_contain_text("The charter does not permit download_weights on a model")
        expect(actions.get_by_role("checkbox", name="download_weights")).to_be_checked()  # what was asked comes back
        expect(page.get_by_label("Justification")).to_have_value("Capability benchmarks for the joint paper.")
        expect(page.locator("ul.messages")).to_have_count(0)

        go(page, "Grants")
        expect(page.get_by_text("No grants.")).to_be_visible()

    assert not Grant.objects.exists()
