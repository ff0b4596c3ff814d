import html
from datetime import timedelta

from accounts.models import Proposal
from audit.models import Event
from governance.exits.services import exit_run
from governance.grants.services import grant_suspend
from governance.models import Exit, Grant
from governance.policy.snapshot import compile_bundle
from tests.conftest import SETUP
from tests.helpers import sign_in
from tests.world import CHARTER_FROM, CHARTER_UNTIL

# A grant's window inside the charter's, as the form's datetime-local inputs take it.
REQUESTED_FROM = (CHARTER_FROM + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
REQUESTED_UNTIL = (CHARTER_FROM + timedelta(days=150)).strftime("%Y-%m-%dT%H:%M")


def shown(response):
    return html.unescape(response.content.decode())


def test_a_partner_admin_requests_a_grant_on_the_web(client, a_admin, a_principal, live_charter, atlas):
    sign_in(client, a_admin)
    page = shown(client.get("/grants/request/"))
    assert "atlas-7b 1.0 (shareable)" in page and "atlas-70b" not in page
    response = client.post(
        "/grants/request/",
        {
            "principal": "northwind-gateway",
            "asset_version": atlas,
            "actions": ["infer"],
            "purposes": ["benchmarking"],
            "valid_from": REQUESTED_FROM,
            "valid_until": REQUESTED_UNTIL,
            "daily_quota": 10,
            "monthly_quota": 100,
            "rate_per_minute": 5,
            "justification": "Benchmarks for the paper.",
        },
    )
    assert response.status_code == 302, shown(response)
    grant = Grant.objects.get()
    assert (grant.status, grant.requested_by, grant.principal) == ("requested", a_admin, a_principal)


def test_a_request_beyond_the_charter_shows_the_reason_on_its_field(client, a_admin, a_principal, live_charter, atlas):
    sign_in(client, a_admin)
    response = client.post(
        "/grants/request/",
        {
            "principal": "northwind-gateway",
            "asset_version": atlas,
            "actions": ["download_weights"],
            "purposes": ["benchmarking"],
            "valid_from": REQUESTED_FROM,
            "valid_until": REQUESTED_UNTIL,
            "daily_quota": 10,
            "monthly_quota": 100,
            "rate_per_minute": 5,
            "justification": "x",
        },
    )
    assert response.status_code == 200
    assert "does not permit download_weights" in response.context["form"].errors["actions"][0]
    assert not Grant.objects.exists()


def test_officers_decide_from_the_request_queue(client, officer, make_grant, live_charter, a_admin, a_principal, atlas):
    from accounts.services import actor_for
    from charters.models import AssetVersion
    from governance.grants.services import grant_request

    grant = grant_request(
        partner=live_charter.charter.partner,
        asset_version=AssetVersion.objects.get(fingerprint=atlas),
        principal=a_principal,
        actions=["infer"],
        purposes=["benchmarking"],
        valid_from=CHARTER_FROM,
        valid_until=CHARTER_UNTIL,
        daily_quota=1,
        monthly_quota=1,
        rate_per_minute=1,
        justification="queue me",
        by=actor_for(a_admin),
    )
    sign_in(client, officer)
    assert "queue me" in shown(client.get("/grants/"))
    client.post(f"/grants/{grant.pk}/approve/")
    grant.refresh_from_db()
    assert (grant.status, grant.approved_by) == ("active", officer)


def test_partner_admins_cannot_decide_grants(client, a_admin, make_grant):
    grant = make_grant()
    sign_in(client, a_admin)
    assert client.post(f"/grants/{grant.pk}/suspend/", {"reason": "x"}).status_code == 403
    grant.refresh_from_db()
    assert grant.status == "active"


def test_terminating_a_charter_once_a_second_officer_confirms_runs_its_exit_and_revokes_its_grants(
    client, officer, second_officer, make_grant, live_charter
):
    grant = make_grant()
    sign_in(client, officer)
    proposed = client.post(f"/governance/charters/{live_charter.charter.slug}/terminate/", {"reason": "project over"})
    proposal = Proposal.objects.get(kind="charter_end")
    assert proposed["Location"] == f"/proposals/{proposal.pk}/" and not Exit.objects.exists()
    sign_in(client, second_officer)
    response = client.post(f"/proposals/{proposal.pk}/confirm/")
    exit_ = Exit.objects.get(charter=live_charter.charter)
    assert response.status_code == 302 and response["Location"] == f"/governance/exits/{exit_.pk}/"
    exit_run(exit_.pk)  # what the worker does with the task queued on commit
    grant.refresh_from_db()
    assert grant.status == "revoked" and "project over" in grant.status_reason
    assert Event.objects.filter(action="grant.revoked", target_id=str(grant.pk)).exists()
    assert Event.objects.filter(action="charter.terminated").exists()


def test_the_bundle_hash_is_stable_and_follows_every_change(make_grant):
    grant = make_grant()
    first = compile_bundle()
    assert compile_bundle().hash == first.hash
    grant_suspend(grant=grant, by=SETUP, reason="check")
    changed = compile_bundle()
    assert changed.hash != first.hash
    assert any(line[-1] == "deny" for line in changed.policies)
