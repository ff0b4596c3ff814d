"""End-to-end test of the measurement allow-lists' pages: an officer creates a list from the menu, puts an AMD
SEV-SNP measurement on it and takes it off again with a reason, confirming first.

Debian's Chromium, driven by Playwright, against the live server. The same rules as tests/e2e/test_browser.py
(``browse`` and ``log_in`` from tests/e2e/browser.py): the ORM is used only before or after the
``with browse() as page:`` block, and DJANGO_ALLOW_ASYNC_UNSAFE is not set.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User
from audit.models import Event
from governance.models import Measurement, MeasurementList
from tests.conftest import committing
from tests.e2e.browser import Browse, confirmations, go, log_in

pytestmark = [pytest.mark.browser, committing]

LAUNCH_MEASUREMENT = "5F" * 48  # as Azure's token may carry it: the list keeps it in lower case


def test_an_officer_creates_a_list_adds_an_snp_measurement_and_removes_it_with_a_reason(
    browse: Browse, officer: User
) -> None:
    with browse() as page:
        log_in(page, officer)
        go(page, "Measurements")
        expect(page.get_by_role("heading", level=1)).to_have_text("Measurement allow-lists")
        page.get_by_label("Name").fill("atlas-serving")
        page.get_by_label("Title").fill("Atlas served in enclaves")
        page.get_by_role("button", name="Create the list").click()

        expect(page).to_have_url("/governance/measurements/atlas-serving/")
        expect(page.locator("ul.messages")).to_contain_text("Measurement list atlas-serving is created, at version 1")
        page.get_by_label("Platform").select_option("snp")
        page.get_by_label("Launch measurement").fill(LAUNCH_MEASUREMENT)
        page.get_by_label("Note").fill("atlas image 1.2, build 88")
        page.get_by_role("button", name="Add to atlas-serving").click()

        expect(page.locator("ul.messages")).to_contain_text("(AMD SEV-SNP) is on atlas-serving, in version 2.")
        row = page.locator("#entries tbody tr", has_text="atlas image 1.2, build 88")
        expect(row.locator("code")).to_have_text(LAUNCH_MEASUREMENT.lower())
        expect(row).to_contain_text("in version 2")

        reason = row.get_by_role("textbox", name="Reason to remove entry")
        row.get_by_role("button", name="Remove").click()  # without a reason the browser does not send it
        expect(reason).to_have_js_property("validity.valueMissing", True)
        reason.fill("Build 88 ships a vulnerable OpenSSL.")
        row.get_by_role("button", name="Remove").click()

        expect(page.locator("ul.messages")).to_contain_text("is off atlas-serving, in version 3.")
        assert len(confirmations(page)) == 1 and confirmations(page)[0].startswith("Remove entry #")
        expect(page.get_by_text("No entry: evidence matches nothing on this list.")).to_be_visible()
        expect(page.locator("#history")).to_contain_text("Build 88 ships a vulnerable OpenSSL.")
        # The history's version 2: the list as it stood then.
        page.locator("#history").get_by_role("link", name="2", exact=True).click()
        expect(page.get_by_role("heading", name="Entries as of version 2")).to_be_visible()
        expect(page.locator("#entries tbody tr", has_text="atlas image 1.2, build 88")).to_have_count(1)

    entry = Measurement.objects.get()
    assert entry.values == {"launch_measurement": LAUNCH_MEASUREMENT.lower()}
    assert (entry.added_in, entry.removed_in, entry.removed_by) == (2, 3, officer)
    assert MeasurementList.objects.get().version == 3
    removed = Event.objects.get(action="measurements.entry_removed")
    assert removed.reason == "Build 88 ships a vulnerable OpenSSL." and removed.details["version"] == 3
