"""What officers do on the People page and the artefact store, through the API: deactivate, unlock, schedule a
key's destruction and keep it. Resetting factors and destroying a key now are proposals (tests/accounts/
test_proposals.py)."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.utils import timezone

from accounts.models import ApiToken
from audit.models import Event


def test_an_officer_deactivates_a_person_and_their_tokens_stop(api_as, officer, auditor, a_admin):
    admin = api_as(a_admin)
    assert (
        api_as(auditor)
        .client.post(f"/api/v1/people/{a_admin.username}/deactivate", {"reason": "Left."}, format="json")
        .status_code
        == 403
    )
    done = api_as(officer).client.post(
        f"/api/v1/people/{a_admin.username}/deactivate", {"reason": "Left."}, format="json"
    )
    assert done.status_code == 200 and done.json() == {
        "username": a_admin.username,
        "is_active": False,
        "was_active": True,
    }
    assert admin.client.get("/api/v1/me").status_code == 401
    assert not ApiToken.objects.filter(user=a_admin, revoked_at__isnull=True).exists()
    assert (
        api_as(officer).client.post("/api/v1/people/nobody/deactivate", {"reason": "x"}, format="json").status_code
        == 404
    )


def test_an_officer_unlocks_a_locked_account(api_as, officer, a_admin):
    AccessAttempt.objects.create(
        username=a_admin.username,
        ip_address="192.0.2.9",
        user_agent="test",
        failures_since_start=5,
        attempt_time=timezone.now(),
    )
    unlocked = api_as(officer).client.post(
        "/api/v1/people/unlock", {"kind": "account", "value": a_admin.username}, format="json"
    )
    assert unlocked.status_code == 200 and unlocked.json()["cleared"] >= 1
    assert not AccessAttempt.objects.filter(username=a_admin.username).exists()
    assert Event.objects.get(action="auth.unlocked").actor_label == "olivia"
    bad = api_as(officer).client.post("/api/v1/people/unlock", {"kind": "planet", "value": "x"}, format="json")
    assert bad.status_code == 400 and "kind" in bad.json()["error"]["fields"]


def test_an_officer_schedules_a_keys_destruction_and_keeps_it(api_as, store, officer, auditor, partner_a):
    key = store("evaluation_output", partner=partner_a).data_key
    olivia = api_as(officer).client
    assert (
        api_as(auditor).client.post(f"/api/v1/keys/{key.key_id}/destroy", {"reason": "x"}, format="json").status_code
        == 403
    )
    scheduled = olivia.post(f"/api/v1/keys/{key.key_id}/destroy", {"reason": "Study over."}, format="json")
    assert scheduled.status_code == 200 and scheduled.json()["status"] == "pending_destruction"
    again = olivia.post(f"/api/v1/keys/{key.key_id}/destroy", {"reason": "Twice."}, format="json")
    assert again.status_code == 400 and "only an active key" in again.content.decode()
    kept = olivia.post(f"/api/v1/keys/{key.key_id}/cancel", {"reason": "Legal hold."}, format="json")
    assert kept.status_code == 200 and kept.json()["status"] == "active" and kept.json()["destroy_after"] is None
    assert olivia.post("/api/v1/keys/nokey/cancel", {"reason": "x"}, format="json").status_code == 404


def test_unlocking_an_address_that_is_not_one_is_a_400_not_a_500(api_as, officer):
    # Found by schemathesis: the address went straight into a query on an IP column.
    refused = api_as(officer).client.post("/api/v1/people/unlock", {"kind": "address", "value": "0"}, format="json")
    assert refused.status_code == 400 and "'0' is not an IP address" in refused.json()["error"]["fields"]["value"][0]
    fine = api_as(officer).client.post(
        "/api/v1/people/unlock", {"kind": "address", "value": "192.0.2.1"}, format="json"
    )
    assert fine.status_code == 200 and fine.json()["cleared"] == 0
