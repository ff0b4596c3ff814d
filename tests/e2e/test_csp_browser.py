"""Every page of the URL list, the admin's and the API's documentation included, opened in Debian's Chromium by a
signed-in officer over a live charter with grants and bundles: the browser plugin (tests/e2e/browser.py) fails the
test on anything the Content-Security-Policy refused, as it does in every other browser test."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from accounts.models import User
from governance.models import Grant, PolicyBundle
from tests.conftest import committing
from tests.e2e.browser import Browse, log_in
from tests.helpers import every_address

pytestmark = [pytest.mark.browser, committing]

# Addresses that are not pages: ending the session, and the passkey ceremonies' JSON.
NOT_PAGES = {"logout"}


def test_no_page_breaks_the_content_security_policy(
    browse: Browse, officer: User, before: tuple[Grant, Grant, PolicyBundle]
) -> None:
    _, _, bundle = before
    pages = [
        path.replace("/bundles/x/", f"/bundles/{bundle.seq}/")
        for path, name in every_address()
        if name not in NOT_PAGES and not path.startswith(("/api/v1/", "/account/webauthn/"))
    ]
    with browse() as page:
        log_in(page, officer)
        for path in pages:
            try:
                page.goto(path)
            except PlaywrightError as error:  # a file (the schema, a report) is a download, not a page
                if "Download is starting" not in str(error):
                    raise
        page.goto("/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Accord API")
        page.goto("/grants/")
        page.get_by_label("Status").select_option("suspended")  # the list's filter sends itself, from a file
        expect(page).to_have_url("/grants/?status=suspended")
