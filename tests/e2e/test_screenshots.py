"""The pages the docs show, drawn in Chromium from a small live world: the officer's home with an anomaly waiting,
the usage charts, and the partner portal. Each is checked to fit the site menu on one line at 1280 px.

`make screenshots` runs this with ACCORD_SCREENSHOTS_DIR=docs/screenshots, which writes the PNGs the README and the
guides show; otherwise they go to the test's own temporary folder and are only checked."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from audit import chain
from charters.models import CharterVersion
from governance.models import Grant
from governance.usage.services import usage_rollup
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in
from tests.helpers import spiked, used

pytestmark = [pytest.mark.browser, committing]
WIDTH, HEIGHT = 1280, 900


def shoot(page: Page, folder: Path, name: str) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    menu = page.locator("header.site nav ul.menu")
    entry = menu.locator(":scope > li").first
    # The menu fits one line: no taller than its tallest entry.
    assert menu.bounding_box()["height"] < 2 * entry.bounding_box()["height"], name  # type: ignore[index]
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 20_000, f"{path} looks empty"


def test_the_pages_the_docs_show(
    browse: Browse,
    tmp_path: Path,
    live_charter: CharterVersion,
    make_grant: Callable[..., Grant],
    officer: User,
    a_admin: User,
    a_principal: User,
    atlas: str,
) -> None:
    folder = Path(os.environ.get("ACCORD_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    make_grant(daily_quota=400)
    steady = make_grant(actions=["evaluate"], daily_quota=1000)
    now = timezone.now()
    for hours in range(1, 23, 3):  # a day of use to chart
        used(a_principal, atlas, 3 + hours % 5, at=now - timedelta(hours=hours))
        used(a_principal, atlas, 1, action="fine_tune", at=now - timedelta(hours=hours))
    used(a_principal, atlas, 6, action="evaluate")
    [finding] = spiked(a_principal, atlas, at=now)  # suspends the first grant and opens an incident
    chain.seal()
    usage_rollup()
    assert finding.grant_id != steady.pk

    with browse() as page:
        log_in(page, officer)
        page.goto("/")
        expect(page.get_by_text("usage-spike (high) on grant")).to_be_visible()
        shoot(page, folder, "officer-home")
        go(page, "Usage")
        expect(page.get_by_role("heading", name="Decisions over time")).to_be_visible()
        shoot(page, folder, "usage-charts")

    with browse() as page:
        log_in(page, a_admin)
        page.goto("/portal/")
        expect(page.get_by_role("heading", name="Your grants")).to_be_visible()
        shoot(page, folder, "partner-portal")
