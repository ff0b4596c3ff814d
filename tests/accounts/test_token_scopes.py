"""Token scopes: decide, pep, manage, read_audit and exit. Each role's tokens get its default and never more than
its ceiling, at issue and at every request; each endpoint lets in only the scopes it names."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import ApiToken
from accounts.roles import Role
from accounts.scopes import CEILING, Scope, scopes_for_issue
from accounts.services import api_token_issue
from tests.conftest import SETUP
from tests.helpers import sign_in


def bearer(client, raw: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def rest_client():
    from rest_framework.test import APIClient

    return APIClient()


def test_each_role_gets_its_default_scopes_and_nothing_beyond_its_ceiling(officer, auditor, a_admin, a_principal):
    defaults = {
        officer: "manage read_audit",
        auditor: "manage read_audit",
        a_admin: "manage read_audit",
        a_principal: "decide",
    }
    for user, expected in defaults.items():
        token, _ = api_token_issue(user=user, name="default", by=SETUP)
        assert token.scopes == expected, user.username
    assert api_token_issue(user=a_principal, name="gw", by=SETUP, scopes=["decide", "pep"])[0].scopes == "decide pep"
    assert api_token_issue(user=a_admin, name="exit only", by=SETUP, scopes=["exit"])[0].scopes == "exit"
    refusals = [
        (a_principal, ["manage"], "cannot carry manage: their role allows decide pep"),
        (officer, ["decide"], "cannot carry decide: their role allows manage read_audit"),
        (a_admin, ["pep"], "cannot carry pep"),
        (auditor, ["exit"], "cannot carry exit"),
        (officer, ["everything"], "Unknown scope everything: a scope is one of decide exit manage pep read_audit"),
    ]
    for user, asked, message in refusals:
        with pytest.raises(ValidationError, match=message):
            api_token_issue(user=user, name="too wide", by=SETUP, scopes=asked)
    assert not ApiToken.objects.filter(name="too wide").exists()
    assert all(CEILING[role] for role in Role)  # every role may use the API for something


def test_each_endpoint_lets_in_only_the_scopes_it_names(rest_client, live_charter, atlas, a_admin, a_principal):
    _, decide = api_token_issue(user=a_principal, name="gateway", by=SETUP)
    answer = bearer(rest_client, decide).post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "benchmarking"}, format="json"
    )
    assert answer.status_code == 200  # a decision, allow or deny
    assert rest_client.get("/api/v1/grants").status_code == 200  # a principal reads its own grants
    assert rest_client.get("/api/v1/me").json()["username"] == a_principal.username
    trail = rest_client.get("/api/v1/audit/events")
    assert trail.status_code == 403
    assert trail.json()["error"]["message"] == (
        "This token carries decide; this endpoint needs read_audit. Issue a token with that scope, if your role "
        "allows it."
    )

    _, reader = api_token_issue(user=a_admin, name="auditing job", by=SETUP, scopes=["read_audit"])
    assert bearer(rest_client, reader).get("/api/v1/audit/events").status_code == 200
    assert rest_client.get("/api/v1/tokens").status_code == 403  # managing tokens needs manage
    refused = rest_client.post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "benchmarking"}, format="json"
    )
    assert (
        refused.status_code == 403
        and "decisions need a principal's token with the decide scope" in (refused.json()["error"]["message"])
    )

    _, manager = api_token_issue(user=a_admin, name="provisioning", by=SETUP, scopes=["manage"])
    assert bearer(rest_client, manager).get("/api/v1/tokens").status_code == 200
    assert rest_client.get("/api/v1/audit/events").status_code == 403


def test_a_token_loses_what_its_owner_loses_at_once(rest_client, a_admin):
    token, raw = api_token_issue(user=a_admin, name="admin", by=SETUP)
    assert bearer(rest_client, raw).get("/api/v1/tokens").status_code == 200
    a_admin.groups.clear()  # no longer the partner's admin: the stored scopes no longer count
    refused = rest_client.get("/api/v1/tokens")
    assert (
        refused.status_code == 403 and "carries no scope its owner may still use" in refused.json()["error"]["message"]
    )
    token.refresh_from_db()
    assert token.scopes == "manage read_audit"  # the row is unchanged; what it may do is computed at each request


def test_the_api_and_the_page_issue_tokens_with_the_scopes_asked_for(api_as, client, a_admin, a_principal):
    admin = api_as(a_admin).client
    made = admin.post(
        "/api/v1/tokens/issue",
        {"name": "gateway", "owner": a_principal.username, "scopes": ["decide", "pep"]},
        format="json",
    )
    assert made.status_code == 201 and made.json()["scopes"] == ["decide", "pep"]
    wide = admin.post(
        "/api/v1/tokens/issue", {"name": "wide", "owner": a_principal.username, "scopes": ["manage"]}, format="json"
    )
    assert wide.status_code == 400
    assert "their role allows decide pep" in wide.json()["error"]["fields"]["scopes"][0]
    unknown = admin.post("/api/v1/tokens/issue", {"name": "x", "scopes": ["root"]}, format="json")
    assert unknown.status_code == 400 and "scopes" in unknown.json()["error"]["fields"]
    listed = {token["name"]: token["scopes"] for token in admin.get("/api/v1/tokens").json()["results"]}
    assert listed["gateway"] == ["decide", "pep"]

    sign_in(client, a_admin)
    shown = client.get("/account/tokens/")
    page = shown.content.decode()
    assert 'value="read_audit"' in page and "read and export the trail the owner may see" in page
    nonce = shown.context["form"].initial["nonce"]
    issued = client.post(
        "/account/tokens/",
        {"name": "reader", "owner": a_admin.username, "expires_in_days": 7, "scopes": ["read_audit"], "nonce": nonce},
    )
    assert issued.status_code == 200 and ApiToken.objects.get(name="reader").scopes == "read_audit"
    assert "<td>read_audit</td>" in issued.content.decode()


def test_issuing_with_no_scope_named_gives_the_default_never_the_gateways_reach(a_principal):
    assert scopes_for_issue(a_principal, None) == {Scope.DECIDE}
    assert scopes_for_issue(a_principal, []) == {Scope.DECIDE}
    assert scopes_for_issue(a_principal, ["pep", "decide"]) == {Scope.DECIDE, Scope.PEP}  # only when asked
