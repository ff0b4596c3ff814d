"""End-to-end tests: Debian's Chromium, driven by Playwright, against pytest-django's live server.

Without /usr/bin/chromium these tests are skipped with the reason shown; under CI=true they fail instead.

Each test drives the browser inside ``with browse() as page:`` and touches the ORM only before or after that
block. While Playwright's sync API runs, an asyncio loop counts as running in this thread, so Django refuses
ORM calls (SynchronousOnlyOperation) and, worse, hands out a different connection object: with
DJANGO_ALLOW_ASYNC_UNSAFE set instead, a flush done while Playwright runs skips the serialized rollback and
later tests lose the rows the data migrations wrote (the role groups). So the variable is deliberately not set.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken, Organisation, Partner, User
from charters.models import Asset
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in, log_out
from tests.factories import AssetFactory

pytestmark = [pytest.mark.browser, committing]


def test_an_officer_registers_an_asset_and_a_version_and_sees_the_version_on_its_page(
    browse: Browse, officer: User, host: Organisation, tmp_path: Path
) -> None:
    fingerprint = hashlib.sha256(b"atlas-7b 1.0.0").hexdigest()
    screenshot = tmp_path / "asset-page.png"
    with browse() as page:
        log_in(page, officer)

        page.get_by_role("button", name="Register an asset").click()
        expect(page).to_have_url(re.compile(r"/registry/assets/new/$"))
        page.get_by_label("Name").fill("atlas-7b")
        page.get_by_label("Kind").select_option("model")
        page.get_by_label("Owner").select_option(host.slug)
        page.get_by_label("Description").fill("A seven-billion-parameter language model.")
        page.get_by_role("button", name="Register").click()

        expect(page).to_have_url(re.compile(r"/registry/assets/\d+/$"))
        expect(page.locator("ul.messages")).to_contain_text("Asset atlas-7b is registered.")
        expect(page.get_by_role("heading", level=1)).to_have_text("atlas-7b")
        asset_url = page.url

        page.get_by_role("button", name="Register a version").click()
        expect(page).to_have_url(re.compile(r"/registry/assets/\d+/versions/new/$"))
        page.get_by_label("Label").fill("1.0.0")
        page.get_by_label("Fingerprint").fill(fingerprint)
        page.get_by_label("Size in bytes").fill("14000000000")
        page.get_by_label("Classification").select_option("restricted")
        page.get_by_label("Storage URI").fill("s3://models/atlas-7b/1.0.0")
        page.get_by_role("button", name="Register").click()

        expect(page).to_have_url(asset_url)
        expect(page.locator("ul.messages")).to_contain_text("Version 1.0.0 of atlas-7b is registered.")
        row = page.locator("tbody tr").filter(has_text="1.0.0")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Restricted")
        expect(row).to_contain_text(fingerprint)
        expect(row).to_contain_text("s3://models/atlas-7b/1.0.0")
        page.screenshot(path=screenshot, full_page=True)

    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 1000
    asset = Asset.objects.get(name="atlas-7b")
    assert asset_url.endswith(f"/registry/assets/{asset.pk}/")
    assert (asset.owner, asset.created_by) == (host, officer)
    assert [(v.label, v.fingerprint) for v in asset.versions.all()] == [("1.0.0", fingerprint)]


def test_a_wrong_password_shows_the_error_and_stays_on_the_login_page(browse: Browse, officer: User) -> None:
    with browse() as page:
        page.goto("/login/")
        page.locator("input[name=username]").fill(officer.username)
        page.locator("input[name=password]").fill("not the password")
        page.get_by_role("button", name="Log in").click()

        expect(page.get_by_role("alert")).to_contain_text("Check both and try again")
        expect(page).to_have_url(re.compile(r"/login/$"))
        expect(page.locator("input[name=username]")).to_have_value(officer.username)
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_a_partner_admin_sees_only_their_own_assets_and_gets_404_on_another_partners(
    browse: Browse, a_admin: User, partner_a: Partner, partner_b: Partner, host: Organisation
) -> None:
    AssetFactory.create(owner=partner_a, name="northwind-forecaster")
    AssetFactory.create(owner=host, name="meridian-atlas")
    helix_asset = AssetFactory.create(owner=partner_b, name="helix-protein-fold")
    with browse() as page:
        log_in(page, a_admin)

        assets = page.locator("section").filter(has=page.get_by_role("heading", name="Assets"))
        expect(assets.get_by_role("link", name="northwind-forecaster")).to_be_visible()
        expect(assets.locator("tbody tr")).to_have_count(1)
        expect(page.get_by_text("meridian-atlas")).to_have_count(0)
        expect(page.get_by_text("helix-protein-fold")).to_have_count(0)
        expect(page.get_by_text("Helix Bio")).to_have_count(0)

        response = page.goto(f"/registry/assets/{helix_asset.pk}/")
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(page.get_by_text("helix-protein-fold")).to_have_count(0)


def test_an_issued_api_token_is_shown_once_and_a_reload_issues_no_second_one(browse: Browse, a_admin: User) -> None:
    with browse() as page:
        log_in(page, a_admin)
        go(page, "API tokens")
        expect(page).to_have_url(re.compile(r"/account/tokens/$"))
        expect(page.locator("#new-token")).to_have_count(0)

        page.get_by_label("Name").fill("evaluation gateway")
        page.get_by_role("combobox", name="Owner").select_option(a_admin.username)
        page.get_by_role("button", name="Issue token").click()

        shown = page.locator("#new-token")
        expect(shown).to_have_text(re.compile(r"^acc_\S{20,}$"))
        raw = shown.inner_text()

        # Reloading the answer sends the form again; its one-time value is spent, so no second token appears.
        page.reload()
        expect(page.locator("#new-token")).to_have_count(0)
        expect(page.get_by_text("That form was already sent")).to_be_visible()
        expect(page.get_by_text(raw)).to_have_count(0)
        listed = page.locator("tbody tr").filter(has_text="evaluation gateway")
        expect(listed).to_have_count(1)
        listed_prefix = listed.locator("code").inner_text().rstrip("…")

    token = ApiToken.objects.get(name="evaluation gateway")  # get(): exactly one was issued
    assert token.user == a_admin
    assert raw.startswith(token.prefix)
    assert listed_prefix == token.prefix


def test_logging_out_returns_to_the_login_page_and_ends_the_session(browse: Browse, officer: User) -> None:
    with browse() as page:
        log_in(page, officer)
        log_out(page)

        expect(page).to_have_url(re.compile(r"/login/$"))
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)

        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
