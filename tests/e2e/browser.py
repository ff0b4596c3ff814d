"""Debian's Chromium, driven by Playwright, against pytest-django's live server: the ``browse`` fixture and
``log_in``, shared by every folder's browser tests (tests/conftest.py names this plugin in ``pytest_plugins``).

Without /usr/bin/chromium the tests that ask for ``browse`` are skipped with the reason shown; under CI=true they
fail instead. The rules for using it are in tests/e2e/test_browser.py's docstring.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from tests.conftest import TEST_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

Browse = Callable[[], AbstractContextManager[Page]]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@contextmanager
def _chromium_page(base_url: str) -> Iterator[Page]:
    """A page in a freshly launched Chromium (Playwright gives each launch a new, empty profile)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base_url)
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def browse(live_server: LiveServer) -> Browse:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: browser tests drive Debian's Chromium (apt-get install chromium)"
        if _in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return partial(_chromium_page, live_server.url)


def log_in(page: Page, user: User) -> None:
    page.goto("/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
