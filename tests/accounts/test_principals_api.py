"""Partner admins manage their own principals through the API: create, list, disable. Another partner's principal
does not exist for them (404), and a disabled principal's tokens stop at once."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import ApiToken, User
from accounts.services import actor_for, api_token_issue, principal_create
from audit.models import Event


def test_a_partner_admin_creates_lists_and_disables_their_principals(api_as, a_admin, a_principal, b_principal):
    admin = api_as(a_admin).client
    made = admin.post("/api/v1/principals/create", {"username": "northwind-batch", "name": "Batch jobs"}, format="json")
    assert made.status_code == 201
    assert made.json() | {"date_joined": None} == {
        "username": "northwind-batch",
        "name": "Batch jobs",
        "partner": "northwind",
        "is_active": True,
        "date_joined": None,
        "active_tokens": 0,
    }
    created = User.objects.get(username="northwind-batch")
    assert created.is_service and created.organisation == a_admin.organisation and not created.has_usable_password()
    assert Event.objects.get(action="user.created", target_id=str(created.pk)).actor_label == a_admin.username

    api_token_issue(user=created, name="batch", by=actor_for(a_admin))
    listed = {row["username"]: row for row in admin.get("/api/v1/principals").json()["results"]}
    assert set(listed) == {a_principal.username, "northwind-batch"}  # nothing of Helix's
    assert listed["northwind-batch"]["active_tokens"] == 1

    missing = admin.post("/api/v1/principals/northwind-batch/disable", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    disabled = admin.post("/api/v1/principals/northwind-batch/disable", {"reason": "Job retired."}, format="json")
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert disabled.json()["active_tokens"] == 0
    assert not ApiToken.objects.filter(user=created, revoked_at__isnull=True).exists()
    event = Event.objects.get(action="user.deactivated", target_id=str(created.pk))
    assert (event.actor_label, event.reason, event.details["tokens_revoked"]) == (a_admin.username, "Job retired.", 1)


def test_another_partners_principal_does_not_exist_for_them_and_their_names_do_not_leak(
    api_as, a_admin, b_admin, b_principal, partner_b
):
    admin = api_as(a_admin).client
    other = admin.post(f"/api/v1/principals/{b_principal.username}/disable", {"reason": "x"}, format="json")
    assert other.status_code == 404 and b_principal.username not in other.content.decode()
    assert User.objects.get(pk=b_principal.pk).is_active
    elsewhere = admin.post(
        "/api/v1/principals/create", {"username": "sneaky", "partner": partner_b.slug}, format="json"
    )
    assert elsewhere.status_code == 404 and not User.objects.filter(username="sneaky").exists()
    with pytest.raises(PermissionDenied, match="your own partner only"):
        principal_create(partner=partner_b, username="sneaky", by=actor_for(a_admin))
    taken = admin.post("/api/v1/principals/create", {"username": b_principal.username}, format="json")
    assert taken.status_code == 400  # usernames are global: the answer says it is taken, and nothing of whose
    assert "already exists" in taken.json()["error"]["message"] and "helix" not in taken.content.decode().lower()


def test_officers_manage_any_partners_principals_and_nobody_else_does(api_as, officer, auditor, a_principal, partner_b):
    made = api_as(officer).client.post(
        "/api/v1/principals/create", {"username": "helix-gw", "partner": partner_b.slug}, format="json"
    )
    assert made.status_code == 201 and made.json()["partner"] == partner_b.slug
    assert "helix-gw" in {row["username"] for row in api_as(auditor).client.get("/api/v1/principals").json()["results"]}
    refused = api_as(auditor).client.post("/api/v1/principals/create", {"username": "x"}, format="json")
    assert refused.status_code == 403
    # A principal's token carries decide: managing principals needs manage.
    assert api_as(a_principal).client.get("/api/v1/principals").status_code == 403
    with pytest.raises(PermissionDenied):
        principal_create(partner=a_principal.organisation, username="y", by=actor_for(a_principal))
    assert not User.objects.filter(username__in=["x", "y"]).exists()


def test_a_principal_name_is_ascii_as_the_schema_says(api_as, a_admin):
    # Schemathesis found "ûã" accepted while the OpenAPI pattern (JSON Schema's \w is ASCII) refused it.
    refused = api_as(a_admin).client.post("/api/v1/principals/create", {"username": "ûã"}, format="json")
    assert refused.status_code == 400 and "unaccented" in refused.json()["error"]["fields"]["username"][0]
