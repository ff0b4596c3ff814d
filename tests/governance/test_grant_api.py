"""Officers take every step on a grant through the API, as on the grant list: approve, refuse, suspend, resume,
revoke, through the same services, with the same refusals. A principal reads the grants it may use."""

from __future__ import annotations

from audit.models import Event
from tests.helpers import status_of


def step(caller, grant, name: str, reason: str = ""):
    return caller.client.post(f"/api/v1/grants/{grant.pk}/{name}", {"reason": reason}, format="json")


def test_an_officer_approves_suspends_resumes_and_revokes_through_the_api(api_as, make_request, officer):
    grant = make_request()
    olivia = api_as(officer)
    approved = step(olivia, grant, "approve")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    no_reason = step(olivia, grant, "suspend")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    assert step(olivia, grant, "suspend", "Unusual volume.").json()["status"] == "suspended"
    assert step(olivia, grant, "resume", "Explained.").json()["status"] == "active"
    revoked = step(olivia, grant, "revoke", "Study over.")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = step(olivia, grant, "resume", "Oops.")
    assert again.status_code == 400 and status_of(grant) == "revoked"
    actions = list(
        Event.objects.filter(target_id=str(grant.pk), action__startswith="grant.").values_list("action", flat=True)
    )
    assert actions[-4:] == ["grant.approved", "grant.suspended", "grant.resumed", "grant.revoked"]
    assert olivia.client.post(f"/api/v1/grants/{grant.pk}/explode", {}, format="json").status_code == 404


def test_a_refusal_needs_a_reason_and_only_officers_take_steps(api_as, make_request, auditor, a_admin, b_admin):
    grant = make_request()
    refused_by_auditor = step(api_as(auditor), grant, "approve")
    assert (
        refused_by_auditor.status_code == 403
        and "Only governance officers decide on grants" in (refused_by_auditor.json()["error"]["message"])
    )
    assert step(api_as(a_admin), grant, "approve").status_code == 403  # their own partner's: the table says no
    other = step(api_as(b_admin), grant, "approve")
    assert other.status_code == 404 and str(grant.pk) not in other.json()["error"]["message"]
    assert status_of(grant) == "requested"


def test_a_principal_lists_the_grants_it_may_use_and_nothing_else(api_as, make_grant, make_request, a_principal):
    mine = make_grant()
    pending = make_request(purposes=["benchmarking"])
    listed = api_as(a_principal).client.get("/api/v1/grants").json()["results"]
    assert {row["id"] for row in listed} == {mine.pk, pending.pk}
    assert all(row["principal"] == a_principal.username for row in listed)
