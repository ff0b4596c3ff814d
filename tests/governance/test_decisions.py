"""The decision contract: every deny code, fail closed, bad input, tenant isolation, charter bounds."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from charters.services.charters import charter_suspend, charter_terminate
from governance.decisions import services as decisions
from governance.grants.services import grant_hold, grant_request, grant_suspend
from governance.models import Grant
from governance.policy.snapshot import Snapshot
from tests.conftest import SETUP
from tests.factories import GrantFactory
from tests.helpers import ask, codes
from tests.world import CHARTER_FROM, CHARTER_UNTIL, activate

# A grant's window inside the charter's, for requests through the API.
REQUESTED_FROM = (CHARTER_FROM + timedelta(days=30)).isoformat()
REQUESTED_UNTIL = (CHARTER_FROM + timedelta(days=150)).isoformat()


@pytest.fixture
def gateway(api_as, a_principal):
    return api_as(a_principal)


def test_an_allowed_request_names_its_bundle_and_the_charters_obligations(gateway, make_grant, atlas):
    make_grant()
    answer = ask(gateway, atlas)
    assert answer["allow"] is True and answer["reasons"] == []
    assert {"code": "log_prompts", "params": {"retention_days": 365}} in answer["obligations"]
    assert len(answer["bundle"]) == 64 and len(answer["decision_id"]) == 32
    event = Event.objects.get(action="decision.allow")
    assert (event.partner, event.details["decision_id"], event.details["bundle"]) == (
        "northwind",
        answer["decision_id"],
        answer["bundle"],
    )


def test_every_decision_is_recorded_before_it_is_answered_deny_included(gateway, make_grant, atlas):
    make_grant()
    answer = ask(gateway, atlas, action="fine_tune")
    event = Event.objects.get(action="decision.deny")
    assert event.details["codes"] == ["action_not_permitted"] and event.details["decision_id"] == answer["decision_id"]


# --- Each deny code -------------------------------------------------------------------------------------


def test_no_grant_is_the_same_answer_for_unknown_and_ungranted_fingerprints(gateway, live_charter, demo_registry):
    unknown = ask(gateway, "0" * 64)
    ungranted = ask(gateway, demo_registry["atlas-7b 1.1"].fingerprint)
    assert codes(unknown) == codes(ungranted) == ["no_grant"]
    assert unknown["reasons"][0]["message"] == ungranted["reasons"][0]["message"]


def test_not_yet_valid(gateway, make_grant, atlas):
    make_grant(valid_from=timezone.now() + timedelta(days=30))
    assert codes(ask(gateway, atlas)) == ["not_yet_valid"]


def test_grant_expired(gateway, make_grant, atlas):
    make_grant(valid_from=CHARTER_FROM, valid_until=CHARTER_FROM + timedelta(days=1))
    assert codes(ask(gateway, atlas)) == ["grant_expired"]


def test_grant_suspended(gateway, make_grant, atlas):
    grant_suspend(grant=make_grant(), by=SETUP, reason="review")
    assert codes(ask(gateway, atlas)) == ["grant_suspended"]


def test_action_not_permitted(gateway, make_grant, atlas):
    make_grant()
    assert codes(ask(gateway, atlas, action="download_weights")) == ["action_not_permitted"]


def test_purpose_not_permitted(gateway, make_grant, atlas):
    make_grant()
    assert codes(ask(gateway, atlas, purpose="marketing")) == ["purpose_not_permitted"]


def test_charter_suspended(gateway, make_grant, atlas, live_charter):
    make_grant()
    charter_suspend(charter=live_charter.charter, by=SETUP, reason="investigation")
    assert codes(ask(gateway, atlas)) == ["charter_suspended"]


def test_charter_terminated(gateway, make_grant, atlas, live_charter):
    make_grant()
    charter_terminate(charter=live_charter.charter, by=SETUP, reason="ended")
    assert codes(ask(gateway, atlas)) == ["charter_terminated"]


def test_incident_hold(gateway, make_grant, atlas):
    grant_hold(grant=make_grant(), by=SETUP, reason="incident 7")
    assert codes(ask(gateway, atlas)) == ["incident_hold"]


def test_quota_exhausted(gateway, make_grant, atlas):
    make_grant(daily_quota=2)
    assert [ask(gateway, atlas)["allow"] for _ in range(2)] == [True, True]
    assert codes(ask(gateway, atlas)) == ["quota_exhausted"]


def test_rate_limited(gateway, make_grant, atlas):
    make_grant(rate_per_minute=1)
    # The limit counts per clock minute: both asks in one minute, five seconds into the next (however slow CI is).
    in_one_minute = (timezone.now() + timedelta(minutes=1)).replace(second=5, microsecond=0)
    with time_machine.travel(in_one_minute, tick=True):
        assert ask(gateway, atlas)["allow"] is True
        assert codes(ask(gateway, atlas)) == ["rate_limited"]


def test_a_grant_cannot_require_attestation_its_charter_says_nothing_of(make_grant):
    with pytest.raises(ValidationError) as refused:
        make_grant(requires_attestation=True)
    assert "does not say which verifiers and claims are accepted for evaluate, infer" in str(refused.value)


def test_attestation_required_without_the_charters_terms_fails_closed(gateway, make_grant, atlas):
    """A grant left requiring attestation when its charter no longer says how (stored before the guardrail, or
    by hand) is denied, saying why."""
    Grant.objects.filter(pk=make_grant().pk).update(requires_attestation=True)
    answer = ask(gateway, atlas)
    assert codes(answer) == ["attestation_required"]
    assert "its charter does not say for infer" in answer["reasons"][0]["message"]


def test_session_required_then_allowed_with_a_live_session(gateway, make_grant, atlas):
    make_grant(requires_session=True)
    assert codes(ask(gateway, atlas)) == ["session_required"]
    opened = gateway.client.post(
        "/api/v1/sessions", {"asset": atlas, "action": "infer", "purpose": "safety-evaluation"}, format="json"
    )
    assert opened.status_code == 201, opened.json()
    assert ask(gateway, atlas, session=opened.json()["session"])["allow"] is True
    assert codes(ask(gateway, atlas, session="ses_forged")) == ["session_required"]


def test_a_session_expires_at_its_ttl(make_grant, atlas, a_principal, settings):
    settings.ACCORD_DECISION_SESSION_SECONDS = 600
    make_grant(requires_session=True)
    request = decisions.DecisionRequest(action="infer", asset=atlas, purpose="safety-evaluation")
    start = timezone.now()
    opened = decisions.session_open(a_principal, request, now=start)
    with_session = decisions.DecisionRequest(**{**request.__dict__, "context": {"session": opened.token}})
    assert opened.expires_at == start + timedelta(seconds=600)
    assert decisions.decide(a_principal, with_session, now=start + timedelta(seconds=599)).allow is True
    late = decisions.decide(a_principal, with_session, now=start + timedelta(seconds=600))
    assert [reason["code"] for reason in late.reasons] == ["session_required"]


def test_a_session_for_a_grant_that_needs_none_is_a_clear_400(gateway, make_grant, atlas):
    make_grant()
    response = gateway.client.post(
        "/api/v1/sessions", {"asset": atlas, "action": "infer", "purpose": "safety-evaluation"}, format="json"
    )
    assert response.status_code == 400 and "does not require a session" in response.json()["error"]["message"]


def test_invalid_batch_items_are_denied_in_place(gateway, make_grant, atlas):
    make_grant()
    good = {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}
    response = gateway.client.post(
        "/api/v1/decisions/batch", {"requests": [good, {"action": 7}, "text", good]}, format="json"
    )
    results = response.json()["results"]
    assert [result["allow"] for result in results] == [True, False, False, True]
    assert codes(results[1]) == codes(results[2]) == ["invalid_request"]
    assert "Item 1" in results[1]["reasons"][0]["message"] and "Must be text" in results[1]["reasons"][0]["message"]


def test_a_stopped_redis_is_a_deny_with_dependency_unavailable_never_a_500(gateway, make_grant, atlas, settings):
    make_grant()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    answer = ask(gateway, atlas)
    assert answer["allow"] is False and codes(answer) == ["dependency_unavailable"]
    assert Event.objects.filter(action="decision.deny", details__codes=["dependency_unavailable"]).exists()


def test_a_policy_that_cannot_be_loaded_is_a_deny(gateway, make_grant, atlas, monkeypatch):
    make_grant()

    def broken():
        raise OSError("model file unreadable")

    monkeypatch.setattr(Snapshot, "load", broken)
    assert codes(ask(gateway, atlas)) == ["dependency_unavailable"]


# --- Bad bodies: 400 in the error shape -----------------------------------------------------------------


def test_missing_fields_are_named(gateway, live_charter):
    response = gateway.client.post("/api/v1/decisions", {"action": "infer"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"asset", "purpose"}


def test_wrong_types_are_a_400(gateway, live_charter):
    response = gateway.client.post(
        "/api/v1/decisions", {"action": 5, "asset": ["x"], "purpose": True, "context": "s"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"action", "asset", "purpose", "context"}


def test_malformed_json_is_a_400(gateway, live_charter):
    response = gateway.client.post("/api/v1/decisions", '{"action": "infer",', content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_a_10_mb_body_is_a_400(gateway, live_charter):
    huge = '{"action": "infer", "asset": "' + "a" * (10 * 1024 * 1024) + '", "purpose": "x"}'
    response = gateway.client.post("/api/v1/decisions", huge, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
    assert "larger than" in response.json()["error"]["message"]


def test_an_oversized_batch_is_a_400_for_the_whole_envelope(gateway, live_charter, atlas):
    item = {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}
    response = gateway.client.post("/api/v1/decisions/batch", {"requests": [item] * 1001}, format="json")
    assert response.status_code == 400 and "requests" in response.json()["error"]["fields"]
    assert not Event.objects.filter(action__startswith="decision.").exists()


def test_only_principals_ask_for_decisions(api_as, a_admin, live_charter, atlas):
    response = api_as(a_admin).client.post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}, format="json"
    )
    assert response.status_code == 403 and "principal" in response.json()["error"]["message"]


# --- Tenants, charter bounds and acknowledgement --------------------------------------------------------


def test_a_principal_of_partner_b_never_gets_an_allow_on_partner_as_grant(api_as, b_principal, make_grant, atlas):
    make_grant()
    answer = ask(api_as(b_principal), atlas)
    assert answer["allow"] is False and codes(answer) == ["no_grant"]


def test_a_grant_is_never_requested_beyond_its_charter(make_grant, demo_registry):
    with pytest.raises(ValidationError, match="does not permit download_weights"):
        make_grant(actions=["download_weights"])
    with pytest.raises(ValidationError, match="does not permit marketing"):
        make_grant(purposes=["marketing"])
    with pytest.raises(ValidationError, match=r"No active charter of Northwind Labs shares atlas-70b 2\.0"):
        make_grant(asset_version=demo_registry["atlas-70b 2.0"])
    with pytest.raises(ValidationError, match="within the charter's"):
        make_grant(valid_until=CHARTER_UNTIL + timedelta(days=1))


def test_a_grant_is_never_approved_beyond_its_charter(
    charter_text, live_charter, demo_registry, a_admin, a_principal, officer, second_officer
):
    from governance.grants.services import grant_approve

    grant = grant_request(
        partner=live_charter.charter.partner,
        asset_version=demo_registry["atlas-7b 1.1"],
        principal=a_principal,
        actions=["infer"],
        purposes=["benchmarking"],
        valid_from=CHARTER_FROM,
        valid_until=CHARTER_FROM + timedelta(days=90),
        daily_quota=10,
        monthly_quota=100,
        rate_per_minute=10,
        justification="x",
        by=actor_for(a_admin),
    )
    # The charter stops sharing atlas-7b 1.1 before an officer gets to the request.
    activate(
        charter_text(
            lambda d: d["assets"].update(shareable=[r for r in d["assets"]["shareable"] if r["version"] != "1.1"])
        ),
        officer,
        second_officer,
    )
    with pytest.raises(ValidationError, match="not shareable"):
        grant_approve(grant=grant, by=actor_for(officer))
    grant.refresh_from_db()
    assert grant.status == "requested"


def test_nobody_approves_their_own_request(make_grant, live_charter, demo_registry, officer, a_principal):
    from governance.grants.services import grant_approve

    request = {
        "partner": live_charter.charter.partner,
        "asset_version": demo_registry["atlas-7b 1.0"],
        "principal": a_principal,
        "actions": ["infer"],
        "purposes": ["benchmarking"],
        "valid_from": CHARTER_FROM,
        "valid_until": CHARTER_FROM + timedelta(days=9),
        "daily_quota": 1,
        "monthly_quota": 1,
        "rate_per_minute": 1,
        "justification": "x",
    }
    # Officers do not request grants (the operation table), so the rule guards the requests already on record.
    with pytest.raises(PermissionDenied, match="Partner admins request grants"):
        grant_request(**request, by=actor_for(officer))
    grant = GrantFactory(
        charter_version=live_charter, requested_by=officer, status=Grant.Status.REQUESTED, approved_by=None, **request
    )
    with pytest.raises(ValidationError, match="another officer must approve it"):
        grant_approve(grant=grant, by=actor_for(officer))


def test_a_charter_restriction_applies_at_once(gateway, make_grant, atlas, charter_text, officer, second_officer):
    make_grant()
    assert ask(gateway, atlas, purpose="benchmarking")["allow"] is True

    def no_benchmarking_inference(document):
        document["actions"]["model"][0]["purposes"] = ["safety-evaluation"]

    activate(charter_text(no_benchmarking_inference), officer, second_officer)  # not accepted by the partner yet
    assert codes(ask(gateway, atlas, purpose="benchmarking")) == ["purpose_not_permitted"]
    assert ask(gateway, atlas, purpose="safety-evaluation")["allow"] is True


def test_a_new_permission_applies_only_after_acknowledgement(
    gateway, make_grant, atlas, charter_text, officer, second_officer, a_admin
):
    def add_red_teaming(document):
        document["purposes"].append({"name": "red-teaming", "description": "Adversarial prompts."})
        document["actions"]["model"][0]["purposes"].append("red-teaming")

    new_version = activate(charter_text(add_red_teaming), officer, second_officer)
    make_grant(purposes=["red-teaming"], actions=["infer"])
    assert codes(ask(gateway, atlas, purpose="red-teaming")) == ["charter_not_acknowledged"]
    from charters.services.charters import charter_acknowledge

    charter_acknowledge(
        version=new_version,
        trainings_confirmed=["responsible-evaluation"],
        by=actor_for(a_admin),
    )
    assert ask(gateway, atlas, purpose="red-teaming")["allow"] is True


def test_a_partner_role_grant_allows_its_members_only(api_as, make_grant, atlas, partner_a, a_principal):
    from accounts.roles import Role
    from accounts.services import user_create
    from governance.models import PartnerRole

    other = user_create(username="northwind-batch", organisation=partner_a, role=Role.PARTNER_PRINCIPAL, by=SETUP)
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    role.members.add(other)
    make_grant(principal=None, partner_role=role)
    assert ask(api_as(other), atlas)["allow"] is True
    assert codes(ask(api_as(a_principal), atlas)) == ["no_grant"]


def test_a_suspended_direct_grant_overrides_an_allowing_role_grant(api_as, make_grant, atlas, partner_a, a_principal):
    from governance.models import PartnerRole

    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    role.members.add(a_principal)
    make_grant(principal=None, partner_role=role)
    grant_suspend(grant=make_grant(), by=SETUP, reason="misuse suspected")
    assert codes(ask(api_as(a_principal), atlas)) == ["grant_suspended"]


def test_the_grant_request_api_refuses_what_the_charter_does_not_permit(
    api_as, a_admin, a_principal, live_charter, atlas
):
    response = api_as(a_admin).client.post(
        "/api/v1/grants/request",
        {
            "principal": "northwind-gateway",
            "asset": atlas,
            "actions": ["download_weights"],
            "purposes": ["benchmarking"],
            "valid_from": REQUESTED_FROM,
            "valid_until": REQUESTED_UNTIL,
            "daily_quota": 10,
            "monthly_quota": 100,
            "rate_per_minute": 5,
            "justification": "bench",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "does not permit download_weights" in response.json()["error"]["fields"]["actions"][0]


def test_partner_admins_request_grants_through_the_api(api_as, a_admin, a_principal, live_charter, atlas):
    response = api_as(a_admin).client.post(
        "/api/v1/grants/request",
        {
            "principal": "northwind-gateway",
            "asset": atlas,
            "actions": ["infer"],
            "purposes": ["benchmarking"],
            "valid_from": REQUESTED_FROM,
            "valid_until": REQUESTED_UNTIL,
            "daily_quota": 10,
            "monthly_quota": 100,
            "rate_per_minute": 5,
            "justification": "bench",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "requested"
    listed = api_as(a_admin).client.get("/api/v1/grants").json()["results"]
    assert [grant["id"] for grant in listed] == [response.json()["id"]]


def test_a_grant_an_officer_suspended_is_denied_saying_an_officer_did(gateway, make_grant, atlas, officer):
    grant_suspend(grant=make_grant(), by=actor_for(officer), reason="Misuse suspected.")
    [reason] = ask(gateway, atlas)["reasons"]
    assert reason == {"code": "grant_suspended", "message": "The grant is suspended by an officer."}
