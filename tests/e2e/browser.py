"""Debian's Chromium, driven by Playwright, against pytest-django's live server: the ``browse`` fixture and
``log_in``, shared by every folder's browser tests (tests/conftest.py names this plugin in ``pytest_plugins``).

One Chromium serves the whole session, started on the first test that asks for it with a fresh profile; each test
connects to it over the DevTools protocol and gets a new browser context (its own cookies and storage), closed
when the test ends. Playwright itself is started per test, not per session, because while its sync API is
running Django refuses ORM calls in the same thread (the rules are in tests/e2e/test_browser.py's docstring).

Without /usr/bin/chromium the tests that ask for ``browse`` are skipped with the reason shown; under CI=true they
fail instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from tests.conftest import TEST_PASSWORD
from tests.helpers import persona_code, wait_for

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


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's Chromium, headless with a fresh profile: its DevTools address."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: browser tests drive Debian's Chromium (apt-get install chromium)"
        if _in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("chromium-profile")
    command = [str(CHROMIUM), "--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}", *CHROMIUM_ARGS]
    with open(profile.parent / "chromium.log", "wb") as log:
        process = subprocess.Popen([*command, "about:blank"], stdout=log, stderr=subprocess.STDOUT)
    # Chromium writes the port it chose into the profile once it listens.
    port_file = profile / "DevToolsActivePort"
    started = wait_for(
        lambda: process.poll() is not None or (port_file.is_file() and port_file.read_text()), timeout=30
    )
    try:
        if process.poll() is not None or not started:
            pytest.fail(f"Chromium did not start (exit status {process.poll()}); see {log.name}", pytrace=False)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_confirmations: dict[int, list[str]] = {}


def confirmations(page: Page) -> list[str]:
    """What the page asked the persona to confirm, in order (each was accepted)."""
    return _confirmations.get(id(page), [])


@contextmanager
def _chromium_page(endpoint: str, base_url: str) -> Iterator[Page]:
    """A page in a new context of the session's Chromium: nothing of an earlier test's cookies or storage."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(endpoint)
        context = browser.new_context(base_url=base_url)
        # Chromium reports each thing the Content-Security-Policy refused on the console: any is a failure.
        refused: list[str] = []
        context.on("console", lambda message: _csp_refusal(message, refused))
        page = context.new_page()
        try:
            context.set_default_timeout(10_000)
            # Destructive buttons ask first (static/accord/forms.js): the persona says yes, and the test can read
            # what it was asked with confirmations(page).
            asked = _confirmations.setdefault(id(page), [])
            page.on("dialog", lambda dialog: _accept(dialog, asked))
            yield page
        finally:
            _confirmations.pop(id(page), None)
            context.close()
        if refused:
            pytest.fail("The Content-Security-Policy refused:\n" + "\n".join(refused), pytrace=False)


def _accept(dialog: Dialog, asked: list[str]) -> None:
    asked.append(dialog.message)
    dialog.accept()


def _csp_refusal(message: ConsoleMessage, refused: list[str]) -> None:
    if "Content Security Policy" in message.text:
        refused.append(f"{message.location.get('url', '?')}: {message.text}")


@pytest.fixture
def browse(chromium: str, live_server: LiveServer) -> Browse:
    _steps_used.clear()  # each test's personas have new authenticators
    return partial(_chromium_page, chromium, live_server.url)


def log_in(page: Page, user: User) -> None:
    """Log in as a persona does: the password, then a code from their authenticator app (tests/conftest.py
    enrols one for every persona), one not typed before in this test."""
    page.goto("/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Second factor", exact=True)).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(_unused_code(user.username))
    page.get_by_role("button", name="Continue").click()
    signed_in_as(page, user.username)  # the navigation of a full login


# The last 30-second step whose code each persona typed in this test: a code works once (django-otp refuses a step
# it has seen), and a wrong try makes the next one wait, so each login types a step not used yet.
_steps_used: dict[str, int] = {}


def _unused_code(username: str) -> str:
    now = int(time.time() // 30)
    step = max(now, _steps_used.get(username, now - 1) + 1)
    if step > now + 1:  # the server accepts one step ahead at most: wait for the next step to begin
        time.sleep((now + 1) * 30 - time.time() + 0.2)
        now += 1
    _steps_used[username] = step
    return persona_code(username, steps_ahead=step - now)


def go(page: Page, name: str) -> None:
    """Follow the site menu's link ``name``, opening the group it sits in first, as a person does."""
    link = page.locator("header nav").get_by_role("link", name=name, exact=True)
    if not link.is_visible():
        page.locator("header nav details", has=page.get_by_text(name, exact=True)).locator("summary").click()
    link.click()


def log_out(page: Page) -> None:
    """Log out from the menu under the person's name."""
    page.locator("header nav details", has=page.get_by_role("button", name="Log out", include_hidden=True)).locator(
        "summary"
    ).click()
    page.get_by_role("button", name="Log out").click()


def signed_in_as(page: Page, username: str) -> None:
    """The page shows the site menu of a signed-in person: their name heads its last group."""
    expect(page.locator("header nav summary", has_text=username)).to_be_visible()
