import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue, api_token_revoke
from accounts.tokens import token_digest
from audit.models import Event
from tests.conftest import SETUP


def test_a_token_is_stored_only_as_its_digest(a_principal):
    token, raw = api_token_issue(user=a_principal, name="gateway", by=SETUP)
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == token_digest(raw)
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix) and len(stored.prefix) < len(raw) // 3
    event = Event.objects.get(action="api_token.issued", target_id=str(token.pk))
    assert raw not in str(event.details)
    assert event.partner == "northwind"


def test_a_valid_token_authenticates_and_records_last_use(api_as, a_principal):
    caller = api_as(a_principal)
    response = caller.client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "northwind-gateway"
    assert response.json()["roles"] == ["partner_principal"]
    assert ApiToken.objects.get(digest=token_digest(caller.token)).last_used_at is not None


def test_an_unknown_token_gets_401_with_what_to_do(db):
    client = APIClient()
    made_up = f"acc_not-a-real-token-{uuid.uuid4().hex}"  # rejections are noted once per token per minute
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {made_up}")
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "Ask your partner admin or an officer" in response.json()["error"]["message"]
    assert client.get("/api/v1/me").status_code == 401  # the same token again, within the minute
    rejected = Event.objects.get(action="auth.token_rejected")  # in the trail, once per token per minute
    assert rejected.outcome == "failure" and rejected.details == {"token_digest": token_digest(made_up)[:12]}


def test_no_credentials_get_401_in_the_error_shape(db):
    response = APIClient().get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": (
                "Send an API token as 'Authorization: Bearer <token>'. Officers and partner admins issue tokens."
            ),
            "fields": {},
        }
    }


def test_a_revoked_token_stops_working_at_once(api_as, a_principal):
    caller = api_as(a_principal)
    api_token_revoke(token=ApiToken.objects.get(digest=token_digest(caller.token)), by=SETUP)
    assert caller.client.get("/api/v1/me").status_code == 401


def test_an_expired_token_is_refused(api_as, a_principal):
    caller = api_as(a_principal)
    ApiToken.objects.filter(digest=token_digest(caller.token)).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert caller.client.get("/api/v1/me").status_code == 401


def test_a_deactivated_users_token_is_refused(api_as, a_admin):
    caller = api_as(a_admin)
    a_admin.is_active = False
    a_admin.save()
    assert caller.client.get("/api/v1/me").status_code == 401


def test_token_lifetime_beyond_the_maximum_is_refused(a_principal, settings):
    settings.ACCORD_TOKEN_MAX_DAYS = 30
    with pytest.raises(ValidationError, match="between 1 and 30 days"):
        api_token_issue(user=a_principal, name="too long", by=SETUP, expires_in_days=31)


def test_partner_admin_issues_a_token_for_their_own_principal(api_as, a_admin, a_principal):
    response = api_as(a_admin).client.post("/api/v1/tokens/issue", {"name": "gateway", "owner": a_principal.username})
    assert response.status_code == 201
    body = response.json()
    assert body["owner"] == "northwind-gateway" and body["token"].startswith("acc_")
    check = APIClient()
    check.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert check.get("/api/v1/me").json()["username"] == "northwind-gateway"


def test_partner_admin_gets_404_issuing_a_token_for_another_partners_principal(api_as, a_admin, b_principal):
    response = api_as(a_admin).client.post("/api/v1/tokens/issue", {"name": "x", "owner": b_principal.username})
    assert response.status_code == 404
    assert not ApiToken.objects.filter(user=b_principal).exists()


def test_partner_admin_gets_404_revoking_another_partners_token(api_as, a_admin, b_principal):
    token, _ = api_token_issue(user=b_principal, name="gateway", by=SETUP)
    response = api_as(a_admin).client.post(f"/api/v1/tokens/{token.pk}/revoke")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_partner_admin_lists_only_their_partners_tokens(api_as, a_admin, a_principal, b_principal):
    api_token_issue(user=a_principal, name="a-gateway", by=SETUP)
    api_token_issue(user=b_principal, name="b-gateway", by=SETUP)
    names = {token["name"] for token in api_as(a_admin).client.get("/api/v1/tokens").json()["results"]}
    assert "a-gateway" in names and "b-gateway" not in names


def test_a_principal_cannot_issue_tokens(api_as, a_principal):
    response = api_as(a_principal).client.post("/api/v1/tokens/issue", {"name": "more"})
    assert response.status_code == 403 and "this endpoint needs manage" in response.json()["error"]["message"]


def test_token_issue_with_bad_input_names_the_field(api_as, a_admin):
    response = api_as(a_admin).client.post("/api/v1/tokens/issue", {"expires_in_days": "soon"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"name", "expires_in_days"}
    assert "name" in error["message"]


def test_revoking_twice_records_one_event(a_principal):
    token, _ = api_token_issue(user=a_principal, name="gateway", by=SETUP)
    api_token_revoke(token=token, by=SETUP)
    api_token_revoke(token=token, by=SETUP)
    assert Event.objects.filter(action="api_token.revoked", target_id=str(token.pk)).count() == 1
