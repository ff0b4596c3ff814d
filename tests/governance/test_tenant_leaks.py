"""A partner learns nothing of what it may not see: such an object is answered exactly as a missing one."""

import hashlib
from datetime import timedelta

import pytest

from accounts.services import actor_for
from governance.grants.roles import partner_role_create
from tests.world import CHARTER_FROM, activate

UNKNOWN = hashlib.sha256(b"no such artefact").hexdigest()


def grant_request(caller, asset, **overrides):
    body = {
        "principal": caller.user.username.replace("-admin", "-gateway"),
        "asset": asset,
        "actions": ["infer"],
        "purposes": ["benchmarking"],
        "valid_from": (CHARTER_FROM + timedelta(days=30)).isoformat(),
        "valid_until": (CHARTER_FROM + timedelta(days=150)).isoformat(),
        "daily_quota": 10,
        "monthly_quota": 100,
        "rate_per_minute": 5,
        "justification": "bench",
        **overrides,
    }
    body = {name: value for name, value in body.items() if value is not None}  # None: leave the field out
    response = caller.client.post("/api/v1/grants/request", body, format="json")
    return response.status_code, response.json()


@pytest.fixture
def a_admin_api(api_as, a_admin, a_principal):
    return api_as(a_admin)


@pytest.fixture
def b_admin_api(api_as, b_admin, b_principal):
    return api_as(b_admin)


def test_a_grant_request_for_an_unknown_fingerprint_names_the_asset_field(a_admin_api, live_charter):
    status, answer = grant_request(a_admin_api, UNKNOWN)
    assert status == 400
    assert answer["error"]["fields"] == {"asset": ["No asset version has this fingerprint."]}


def test_a_admin_gets_the_same_answer_for_bs_asset_as_for_a_fingerprint_that_does_not_exist(
    a_admin_api, live_charter, demo_registry
):
    helix_own = demo_registry["atlas-7b-helix-ft 1.0"].fingerprint
    assert grant_request(a_admin_api, helix_own) == grant_request(a_admin_api, UNKNOWN)


def test_a_admin_gets_the_same_answer_for_a_host_asset_not_shared_with_a(a_admin_api, live_charter, demo_registry):
    not_shared = demo_registry["clinical-notes-deid 2026-09"].fingerprint
    assert grant_request(a_admin_api, not_shared) == grant_request(a_admin_api, UNKNOWN)


def test_b_admin_gets_the_same_answer_for_as_asset_as_for_a_fingerprint_that_does_not_exist(
    b_admin_api, live_charter, demo_registry
):
    northwind_own = demo_registry["northwind-eval-suite 1.0"].fingerprint
    status, answer = grant_request(b_admin_api, northwind_own)
    assert (status, answer) == grant_request(b_admin_api, UNKNOWN)
    assert "northwind" not in str(answer).lower()


def test_b_admin_gets_the_same_answer_for_a_host_asset_shared_with_a_only(b_admin_api, live_charter, atlas):
    assert grant_request(b_admin_api, atlas) == grant_request(b_admin_api, UNKNOWN)


def test_a_admin_still_requests_what_a_charter_shares_with_a(a_admin_api, live_charter, atlas):
    status, answer = grant_request(a_admin_api, atlas)
    assert status == 201, answer


def test_a_admin_still_requests_its_own_asset_that_its_charter_shares(a_admin_api, live_charter, demo_registry):
    # Northwind owns the suite, and its charter shares it: the request goes through.
    status, answer = grant_request(
        a_admin_api, demo_registry["northwind-eval-suite 1.0"].fingerprint, actions=["evaluate"]
    )
    assert status == 201, answer


def same_but_for_the_name(theirs, missing, their_name, missing_name):
    return theirs.status_code == missing.status_code and theirs.content.decode().replace(
        their_name, "NAME"
    ) == missing.content.decode().replace(missing_name, "NAME")


def test_a_admin_gets_the_same_answer_for_bs_principal_and_role_as_for_missing_ones(
    a_admin_api, live_charter, atlas, partner_b, b_admin, b_principal
):
    partner_role_create(partner=partner_b, slug="helix-jobs", by=actor_for(b_admin))
    for field, theirs in (("principal", "helix-gateway"), ("partner_role", "helix-jobs")):
        status, answer = grant_request(a_admin_api, atlas, **{"principal": None, field: theirs})
        missing_status, missing = grant_request(a_admin_api, atlas, **{"principal": None, field: "nobody"})
        assert status == missing_status == 400
        assert str(answer).replace(theirs, "NAME") == str(missing).replace("nobody", "NAME")


def test_a_admin_gets_the_same_answer_for_bs_charter_as_for_a_missing_one(
    a_admin_api, live_charter, charter_text, officer, second_officer, b_admin
):
    activate(charter_text(name="helix-finetune"), officer, second_officer, accept_by=b_admin)
    client = a_admin_api.client
    for url in ("/api/v1/charters/{}/versions/1",):
        assert same_but_for_the_name(
            client.get(url.format("helix-finetune")), client.get(url.format("no-such")), "helix-finetune", "no-such"
        )
    theirs = client.post("/api/v1/charters/helix-finetune/acknowledge", {"version": 1}, format="json")
    missing = client.post("/api/v1/charters/no-such/acknowledge", {"version": 1}, format="json")
    assert theirs.status_code == 404 and same_but_for_the_name(theirs, missing, "helix-finetune", "no-such")


def test_a_admin_gets_the_same_answer_for_bs_role_and_principal_as_for_missing_ones(
    a_admin_api, live_charter, partner_a, partner_b, a_admin, b_admin, b_principal
):
    partner_role_create(partner=partner_b, slug="helix-jobs", by=actor_for(b_admin))
    partner_role_create(partner=partner_a, slug="eval-jobs", by=actor_for(a_admin))
    client = a_admin_api.client
    theirs = client.post("/api/v1/roles/helix-jobs/members", {"principal": "northwind-gateway"}, format="json")
    missing = client.post("/api/v1/roles/no-such/members", {"principal": "northwind-gateway"}, format="json")
    assert theirs.status_code == 404 and same_but_for_the_name(theirs, missing, "helix-jobs", "no-such")
    theirs = client.post("/api/v1/roles/eval-jobs/members", {"principal": "helix-gateway"}, format="json")
    missing = client.post("/api/v1/roles/eval-jobs/members", {"principal": "nobody"}, format="json")
    assert theirs.status_code == 400 and same_but_for_the_name(theirs, missing, "helix-gateway", "nobody")
    theirs = client.post("/api/v1/tokens/issue", {"name": "t", "owner": "helix-gateway"}, format="json")
    missing = client.post("/api/v1/tokens/issue", {"name": "t", "owner": "nobody"}, format="json")
    assert theirs.status_code == 404 and same_but_for_the_name(theirs, missing, "helix-gateway", "nobody")
