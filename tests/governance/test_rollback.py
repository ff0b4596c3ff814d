"""Rolling back to a bundle: grant transitions only, each audited; never a revived revocation; all or nothing."""

from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Proposal
from accounts.services import actor_for
from audit.models import Event
from governance.grants.roles import partner_role_add_member
from governance.grants.services import grant_resume, grant_revoke, grant_suspend
from governance.models import Grant, PartnerRole
from governance.policy import rollback
from governance.policy.selectors import bundle_lines
from governance.policy.snapshot import compile_bundle
from tests.conftest import SETUP
from tests.helpers import second_officer_confirming, sign_in, status_of


@pytest.fixture
def confirming() -> Iterator[None]:
    """For the tests of the act: a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("policy_rollback"):
        yield


@pytest.mark.usefixtures("confirming")
def test_rollback_suspends_what_was_added_and_restores_the_bundle_exactly(before, make_grant, officer):
    kept, doomed, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    assert compile_bundle().hash != bundle.hash

    plan = rollback.rollback_plan(bundle)
    assert [step.grant_id for step in plan.suspend] == [added.pk]
    assert plan.suspend[0].then == "absent" and not plan.resume and not plan.unrestored

    result = rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="Bad approval.")
    assert status_of(added) == "suspended" and status_of(kept) == status_of(doomed) == "active"
    # A suspended grant compiles to deny lines, so the policy is not the same lines; the allow lines are.
    allow = {line for line in compile_bundle().policies if line[-1] == "allow"}
    assert allow == {tuple(row[1:]) for row in bundle_lines(bundle) if row[0] == "p" and row[-1] == "allow"}
    assert result.policy_hash == compile_bundle().hash and result.allows_restored and not result.restored_exactly
    event = Event.objects.get(action="grant.suspended", target_id=str(added.pk))
    assert event.reason.startswith(f"Rollback to bundle {bundle.hash[:12]} (change {bundle.seq}): Bad approval.")
    rolled = Event.objects.get(action="policy.rolled_back")
    assert rolled.details["suspended"] == [added.pk] and rolled.actor_id == str(officer.pk)


@pytest.mark.usefixtures("confirming")
def test_rollback_resumes_what_was_suspended_since_and_gets_the_very_bundle_back(before, officer):
    kept, _, bundle = before
    grant_suspend(grant=kept, by=SETUP, reason="Looked odd.")
    result = rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="It was fine.")
    assert status_of(kept) == "active"
    assert result.restored_exactly and compile_bundle().hash == bundle.hash


@pytest.mark.usefixtures("confirming")
def test_rollback_never_revives_a_revoked_grant_and_says_why(before, make_grant, officer, partner_a, a_principal):
    _, doomed, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    grant_revoke(grant=doomed, by=SETUP, reason="Partner left the project.")
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    partner_role_add_member(role=role, principal=a_principal, by=SETUP)

    plan = rollback.rollback_plan(bundle)
    unrestored = {item.what: item.why for item in plan.unrestored}
    assert "never revives a revoked grant" in unrestored[f"grant #{doomed.pk} (northwind-gateway)"]
    assert "members added since: northwind-gateway" in unrestored["role northwind/eval-jobs"]

    result = rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="Bad week.")
    assert status_of(doomed) == "revoked" and status_of(added) == "suspended"
    assert not result.restored_exactly and not result.allows_restored
    assert "could not restore" in result.summary()
    assert Event.objects.get(action="policy.rolled_back").details["unrestored"][0]["what"].startswith("grant #")


@pytest.mark.usefixtures("confirming")
def test_rollback_is_all_or_nothing(before, make_grant, officer, monkeypatch):
    kept, _, bundle = before
    grant_suspend(grant=kept, by=SETUP, reason="Odd.")
    added = make_grant(actions=["infer"], purposes=["benchmarking"])

    def resumed_meanwhile(*, grant, by, reason):  # another officer resumed it a moment ago
        grant_resume(grant=grant, by=SETUP, reason="Meanwhile.")
        return grant_resume(grant=grant, by=by, reason=reason)

    monkeypatch.setattr(rollback.grant_services, "grant_resume", resumed_meanwhile)
    events = Event.objects.count()
    with pytest.raises(ValidationError, match="cannot be resumed"):
        rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="Try.")
    assert status_of(added) == "active" and status_of(kept) == "suspended"  # the suspension was rolled back too
    assert Event.objects.count() == events


@pytest.mark.usefixtures("confirming")
def test_a_changed_plan_an_empty_one_a_missing_reason_and_a_non_officer_are_refused(
    before, make_grant, officer, auditor
):
    _, _, bundle = before
    with pytest.raises(ValidationError, match="No grant differs"):
        rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="Nothing.")
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    seen = rollback.rollback_plan(bundle).digest
    make_grant(actions=["infer"], purposes=["safety-evaluation"])  # approved while the officer was reading
    with pytest.raises(ValidationError, match="changed since this rollback was planned"):
        rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason="Go.", expected_plan=seen)
    with pytest.raises(ValidationError, match="Say why"):
        rollback.bundle_rollback(bundle=bundle, by=actor_for(officer), reason=" ")
    with pytest.raises(PermissionDenied, match="Only a governance officer"):
        rollback.bundle_rollback(bundle=bundle, by=actor_for(auditor), reason="Go.")
    assert status_of(added) == "active" and not Event.objects.filter(action="policy.rolled_back").exists()


def test_the_rollback_api_plans_then_proposes_and_a_second_officer_confirms(
    before, make_grant, api_as, officer, second_officer, auditor
):
    _, _, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    caller = api_as(officer)
    url = f"/api/v1/policy/bundles/{bundle.hash[:12]}/rollback"
    planned = caller.client.post(url, {"dry_run": True}, format="json").json()
    assert [step["grant"] for step in planned["suspend"]] == [added.pk] and status_of(added) == "active"
    missing = caller.client.post(url, {"plan": planned["plan"]}, format="json")
    assert missing.status_code == 400 and "Say why" in missing.json()["error"]["fields"]["reason"][0]
    stale = caller.client.post(url, {"plan": "0" * 16, "reason": "Bad approval."}, format="json")
    assert stale.status_code == 400 and "changed since you looked" in stale.json()["error"]["fields"]["plan"][0]
    proposed = caller.client.post(url, {"plan": planned["plan"], "reason": "Bad approval."}, format="json")
    assert proposed.status_code == 202 and proposed["Location"] == f"/api/v1/proposals/{proposed.json()['id']}"
    proposal = proposed.json()
    assert proposal["status"] == "pending" and proposal["proposed_by"] == officer.username
    assert proposal["plan"][0].startswith(f"Suspend grant #{added.pk}") and status_of(added) == "active"
    own = caller.client.post(f"/api/v1/proposals/{proposal['id']}/confirm", format="json")
    assert own.status_code == 403 and "a second officer must confirm" in own.json()["error"]["message"]
    done = api_as(second_officer).client.post(f"/api/v1/proposals/{proposal['id']}/confirm", format="json")
    assert done.status_code == 200 and done.json()["status"] == "carried_out"
    assert "1 grant(s) suspended" in done.json()["outcome"] and status_of(added) == "suspended"
    assert api_as(auditor).client.post(url, {"dry_run": True}, format="json").status_code == 403
    unknown = caller.client.post("/api/v1/policy/bundles/feedfacefeed/rollback", {"dry_run": True}, format="json")
    assert unknown.status_code == 404 and "No policy bundle" in unknown.json()["error"]["message"]


def test_the_rollback_page_proposes_the_plan_it_shows_and_the_second_officer_carries_it_out(
    before, make_grant, client, officer, second_officer, auditor
):
    _, _, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    sign_in(client, officer)
    page = client.get(f"/governance/bundles/{bundle.seq}/rollback/").content.decode()
    assert f"#{added.pk}" in page and "Suspended (1)" in page
    digest = rollback.rollback_plan(bundle).digest
    response = client.post(
        f"/governance/bundles/{bundle.seq}/rollback/", {"plan": digest, "reason": "Bad approval."}, follow=True
    )
    assert "Nothing happens until another officer confirms it" in response.content.decode()
    assert status_of(added) == "active"
    proposal = Proposal.objects.get()
    sign_in(client, second_officer)
    done = client.post(f"/proposals/{proposal.pk}/confirm/", follow=True)
    assert "1 grant(s) suspended" in done.content.decode() and status_of(added) == "suspended"
    assert Grant.objects.filter(status="suspended").count() == 1
    client.logout()
    sign_in(client, auditor)
    assert client.get(f"/governance/bundles/{bundle.seq}/rollback/").status_code == 403
