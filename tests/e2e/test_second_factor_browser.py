"""End-to-end tests of the second factor in Debian's Chromium: a passkey enrolled and used through Chromium's
virtual authenticator (the DevTools protocol's WebAuthn domain), an authenticator app enrolled from its page and
used, every address of the URL list refused to a password alone, a lockout and its unlock, and a step-up before a
rollback.

The same rules as tests/e2e/test_browser.py: the ORM only before, between or after the ``with browse() as page:``
blocks. Every browser here comes from 127.0.0.1, so the lockout test counts failures per account only (the
per-address count is tests/accounts/test_lockout_and_sessions.py's).
"""

from __future__ import annotations

import re
from base64 import b32decode
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_otp.oath import TOTP
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts import proposals
from accounts.middleware import BEFORE_SECOND_FACTOR
from accounts.models import Organisation, User
from accounts.roles import Role
from accounts.services import actor_for, user_create
from audit.models import Event
from governance.models import Grant, PolicyBundle
from tests.conftest import SETUP, TEST_PASSWORD, committing
from tests.e2e.browser import Browse, go, log_in, log_out, signed_in_as
from tests.helpers import every_address, persona_code, status_of

pytestmark = [pytest.mark.browser, committing]


@pytest.fixture
def newcomer(host: Organisation) -> User:
    """A person with a password and no factor yet: their first login enrols one."""
    return user_create(username="nina", organisation=host, role=Role.AUDITOR, by=SETUP, password=TEST_PASSWORD)


@pytest.fixture
def passkeys_here(settings, live_server: LiveServer) -> None:
    # The relying party is localhost (ACCORD_PUBLIC_URL's default host); the live server's port is its own.
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]


def password_step(page: Page, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def virtual_authenticator(page: Page) -> None:
    """Chromium's virtual platform authenticator: it makes and uses passkeys, with the user "verified" at once."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_a_newcomer_sets_up_a_passkey_and_logs_in_with_it(browse: Browse, newcomer: User, passkeys_here) -> None:
    with browse() as page:
        virtual_authenticator(page)
        password_step(page, "nina")
        expect(page).to_have_url(re.compile(r"/account/enrol/\?next=%2F$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Set up your second factor")
        page.get_by_role("button", name="Set up a passkey").click()

        expect(page).to_have_url(re.compile(r"/account/recovery-codes/\?first=1"))
        expect(page.get_by_text("Your passkey is set up.")).to_be_visible()
        page.get_by_role("button", name="Show me new recovery codes").click()
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        page.get_by_role("button", name="I have saved them: continue").click()
        signed_in_as(page, "nina")

        log_out(page)
        password_step(page, "nina")
        expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
        page.get_by_role("button", name="Use a passkey").click()
        expect(page).to_have_url(re.compile(r"/$"))
        signed_in_as(page, "nina")

    assert WebAuthnCredential.objects.filter(user=newcomer, confirmed=True).count() == 1
    used = Event.objects.filter(action="auth.second_factor", actor_label="nina").values_list("details", flat=True)
    assert [details["factor"] for details in used] == ["passkey", "passkey"]  # set up, then used


def test_a_newcomer_sets_up_an_authenticator_app_and_logs_in_with_its_codes(browse: Browse, newcomer: User) -> None:
    with browse() as page:
        password_step(page, "nina")
        expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
        # What a person's app does with the QR code: the secret it holds, and the code it shows now.
        secret = b32decode(page.locator("#totp-secret").inner_text().replace(" ", ""))
        page.get_by_label("Code from the app").fill("000000" if f"{TOTP(secret).token():06d}" != "000000" else "1")
        page.get_by_role("button", name="Confirm the app").click()
        expect(page.get_by_text("That code does not match")).to_be_visible()

        page.get_by_label("Name").fill("work phone")
        page.get_by_label("Code from the app").fill(f"{TOTP(secret).token():06d}")
        page.get_by_role("button", name="Confirm the app").click()
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        page.get_by_role("button", name="I have saved them: continue").click()
        signed_in_as(page, "nina")

        log_out(page)
        password_step(page, "nina")
        page.get_by_label("Code from your authenticator app").fill(f"{TOTP(secret, drift=1).token():06d}")
        page.get_by_role("button", name="Continue").click()
        signed_in_as(page, "nina")
        go(page, "Meridian AI · your security")
        expect(page.get_by_role("cell", name="work phone")).to_be_visible()

    assert Event.objects.filter(action="auth.factor_added", actor_label="nina").count() == 1


def test_a_password_alone_opens_no_page_of_the_url_list_nor_the_admin(browse: Browse, officer: User) -> None:
    addresses = [(path, name) for path, name in every_address() if name not in BEFORE_SECOND_FACTOR]
    assert sum(path.startswith("/admin/") for path, _ in addresses) > 80
    opened = []
    with browse() as page:
        password_step(page, "olivia")
        expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
        for path, name in addresses:
            if path.startswith("/api/v1/"):
                answer = page.request.get(path)
                if answer.status != 403 or answer.json()["error"]["code"] != "second_factor_required":
                    opened.append(f"{path} ({name}): {answer.status}")
                continue
            page.goto(path)
            if not re.search(r"/account/verify/\?next=", page.url):
                opened.append(f"{path} ({name}): {page.url}")
    assert opened == []


def test_repeated_wrong_passwords_lock_the_account_until_an_officer_unlocks_it(
    browse: Browse, settings, officer: User, a_admin: User
) -> None:
    settings.AXES_LOCKOUT_PARAMETERS = ["username"]  # every browser here is 127.0.0.1
    with browse() as page:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            password_step(page, "northwind-admin", "not the password")
        expect(page.locator("#lockout")).to_contain_text("try again in 15 minutes")
        password_step(page, "northwind-admin")  # the right password: still locked
        expect(page.locator("#lockout")).to_contain_text("ask a governance officer to unlock it")

    with browse() as page:
        log_in(page, officer)
        go(page, "People")
        row = page.locator("#person-northwind-admin")
        expect(row).to_contain_text("locked until")
        row.get_by_role("button", name="Unlock").click()
        expect(page.locator("ul.messages")).to_contain_text("The account northwind-admin is unlocked")

    with browse() as page:
        log_in(page, a_admin)

    assert Event.objects.filter(action="auth.locked_out", target_id=str(a_admin.pk)).count() == 1
    assert Event.objects.filter(action="auth.unlocked", actor_label="olivia").count() == 1


def test_confirming_a_rollback_with_an_old_second_factor_asks_for_it_again_first(
    browse: Browse, before: tuple[Grant, Grant, PolicyBundle], make_grant, officer: User, second_officer: User
) -> None:
    _, _, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    proposal = proposals.proposal_make(
        kind="policy_rollback", target=bundle.hash, reason="Approved for the wrong purpose.", by=actor_for(officer)
    )
    with browse() as page:
        log_in(page, second_officer)
        # Ten minutes later (the step-up window is five): the session is live, its factor is not fresh.
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=10), tick=True):
            page.goto(f"/proposals/{proposal.pk}/")
            page.get_by_role("button", name="Confirm: carry this out now").click()

            expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
            expect(page.locator("ul.messages")).to_contain_text("This cannot be undone")
            page.get_by_label("Code from your authenticator app").fill(persona_code("oscar"))
            page.get_by_role("button", name="Continue").click()

            expect(page).to_have_url(re.compile(rf"/proposals/{proposal.pk}/$"))
            page.get_by_role("button", name="Confirm: carry this out now").click()
            expect(page.locator("ul.messages")).to_contain_text("Rolled back: 1 grant(s) suspended")

    assert status_of(added) == Grant.Status.SUSPENDED
