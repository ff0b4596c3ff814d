"""Every answer carries the Content-Security-Policy (no inline script or style, nothing from elsewhere) and the
Permissions-Policy: every address of the URL list, the admin's and the API's included, signed in or not. The
browser tests fail on any CSP refusal Chromium reports (tests/e2e/browser.py)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.helpers import REPO, every_address, sign_in

STRICT = {
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "form-action 'self'",
}


def policy_of(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


def test_every_address_answers_with_the_strict_policy_and_the_permissions_policy(client, officer):
    sign_in(client, officer)
    missing = []
    for path, name in every_address():
        for who in (client, Client()):
            response = who.get(path)
            if not policy_of(response) >= STRICT or "camera=()" not in response.get("Permissions-Policy", ""):
                missing.append(f"{path} ({name}): {response.status_code}")
    assert missing == []


@pytest.mark.parametrize("directive", ["'unsafe-inline'", "'unsafe-eval'", "http:", "https:", "*"])
def test_the_policy_allows_nothing_inline_or_from_elsewhere(client, db, directive):
    assert directive not in client.get("/login/")["Content-Security-Policy"]


def test_passkeys_are_allowed_for_accords_own_pages_only(client, db):
    policy = client.get("/login/")["Permissions-Policy"]
    assert "publickey-credentials-get=(self)" in policy and "publickey-credentials-create=(self)" in policy


def test_no_template_holds_an_inline_script_style_or_handler():

    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=\"")
    offenders = [
        f"{path}: {match.group(0)}"
        for path in sorted((REPO / "templates").rglob("*.html"))
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []
