"""Officers write, submit, return, approve, suspend and resume charters through the API, through the registry's
own services: the same guardrails, the same second officer, the same refusals."""

from __future__ import annotations

from charters.models import Charter
from tests.world import activate


def test_officers_write_and_review_a_charter_through_the_api(api_as, charter_text, officer, second_officer, a_admin):
    olivia, oscar = api_as(officer).client, api_as(second_officer).client
    written = olivia.post("/api/v1/charters/write", {"document": charter_text()}, format="json")
    assert written.status_code == 201
    version = written.json()
    assert (version["charter"], version["number"], version["status"]) == ("northwind-evaluation", 1, "draft")
    same = olivia.post("/api/v1/charters/write", {"document": charter_text()}, format="json")
    assert same.status_code == 200 and same.json()["changed"] is False
    base = f"/api/v1/charters/{version['charter']}/versions/1"
    assert olivia.post(f"{base}/submit", {}, format="json").json()["status"] == "in_review"
    returned = oscar.post(f"{base}/return", {}, format="json")
    assert returned.status_code == 400 and "reason" in returned.content.decode()
    assert oscar.post(f"{base}/return", {"reason": "Tighten exports."}, format="json").json()["status"] == "draft"
    olivia.post(f"{base}/submit", {}, format="json")
    own = olivia.post(f"{base}/approve", {}, format="json")
    assert own.status_code == 400 and "second officer" in own.content.decode()
    approved = oscar.post(f"{base}/approve", {}, format="json")
    assert approved.status_code == 200 and approved.json()["approved_by"] == "oscar"
    assert Charter.objects.get(slug="northwind-evaluation").active_version.number == 1
    assert api_as(a_admin).client.post(f"{base}/approve", {}, format="json").status_code == 403


def test_a_document_that_breaks_the_rules_names_every_problem(api_as, officer):
    refused = api_as(officer).client.post("/api/v1/charters/write", {"document": "name: x\ntitle: [\n"}, format="json")
    assert refused.status_code == 400
    problems = refused.json()["error"]["fields"]["document"]
    assert problems and "not valid YAML" in problems[0]


def test_suspending_and_resuming_a_charter_and_nobody_else_sees_it(
    api_as, charter_text, officer, second_officer, a_admin, b_admin
):
    activate(charter_text(), officer, second_officer, accept_by=a_admin)
    olivia = api_as(officer).client
    url = "/api/v1/charters/northwind-evaluation"
    assert olivia.post(f"{url}/suspend", {}, format="json").status_code == 400
    suspended = olivia.post(f"{url}/suspend", {"reason": "Audit finding."}, format="json")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert suspended.json()["accepted"] is True
    assert api_as(a_admin).client.post(f"{url}/resume", {"reason": "Mine."}, format="json").status_code == 403
    hidden = api_as(b_admin).client.post(f"{url}/resume", {"reason": "x"}, format="json")
    assert hidden.status_code == 404 and "northwind" not in hidden.json()["error"]["message"]
    assert olivia.post(f"{url}/resume", {"reason": "Resolved."}, format="json").json()["status"] == "active"
