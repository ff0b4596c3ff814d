"""Access reviews and incidents through the API, as on their pages: start, answer (one or several), close; declare,
tick a step, close. The host's staff only: a partner's people find neither."""

from __future__ import annotations

from governance.models import Grant, ReviewCampaign


def test_an_officer_runs_a_review_through_the_api(
    api_as, make_grant, live_charter, officer, second_officer, auditor, a_admin
):
    kept, dropped = make_grant(), make_grant(purposes=["benchmarking"])
    olivia = api_as(officer).client
    assert (
        api_as(auditor)
        .client.post("/api/v1/reviews/start", {"charter": "northwind-evaluation"}, format="json")
        .status_code
        == 403
    )
    started = olivia.post("/api/v1/reviews/start", {"charter": "northwind-evaluation"}, format="json")
    assert started.status_code == 201
    review = started.json()
    items = {item["grant"]: item["id"] for item in review["items"]}
    reviewers = {item["grant"]: item["reviewer"] for item in review["items"]}
    officers = {officer.username: officer, second_officer.username: second_officer}
    assert set(items) == {kept.pk, dropped.pk} and review["status"] == "open"
    url = f"/api/v1/reviews/{review['id']}"
    assert [row["id"] for row in api_as(auditor).client.get("/api/v1/reviews").json()["results"]] == [review["id"]]
    bad = olivia.post(f"{url}/answer", {"items": [items[kept.pk]], "decision": "maybe"}, format="json")
    assert bad.status_code == 400 and "decision" in bad.json()["error"]["fields"]
    reviewer = api_as(officers[reviewers[dropped.pk]]).client  # each item is its reviewer's to answer
    answered = reviewer.post(
        f"{url}/answer", {"items": [items[dropped.pk]], "decision": "revoke", "justification": "Unused."}, format="json"
    )
    assert answered.status_code == 200, answered.json()
    assert {item["grant"]: item["decision"] for item in answered.json()["items"]}[dropped.pk] == "revoke"
    short = olivia.post(f"{url}/close", {"reason": "no"}, format="json")
    assert short.status_code == 400 and "Say in a sentence" in short.content.decode()
    closed = olivia.post(f"{url}/close", {"reason": "The study lead answered for the rest."}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert Grant.objects.get(pk=dropped.pk).status == "revoked"
    assert api_as(a_admin).client.get(url).status_code == 404  # a review is the host's: not there for a partner
    assert ReviewCampaign.objects.count() == 1


def test_an_officer_declares_ticks_and_closes_an_incident_through_the_api(
    api_as, live_charter, officer, a_admin, b_admin
):
    olivia = api_as(officer).client
    form = {
        "charter": "northwind-evaluation",
        "title": "Odd traffic",
        "severity": "high",
        "summary": "Unknown network.",
    }
    assert api_as(b_admin).client.post("/api/v1/incidents/declare", form, format="json").status_code == 403
    declared = olivia.post("/api/v1/incidents/declare", {**form, "drill": True}, format="json")
    assert declared.status_code == 201
    incident = declared.json()
    assert incident["drill"] is True and incident["steps"] and incident["partner"] == "northwind"
    manual = next(step for step in incident["steps"] if not step["automatic"])
    url = f"/api/v1/incidents/{incident['id']}"
    done = olivia.post(f"{url}/steps/{manual['position']}/done", {"note": "Called the partner."}, format="json")
    assert done.status_code == 200
    assert {step["position"]: step["status"] for step in done.json()["steps"]}[manual["position"]] == "done"
    assert olivia.post(f"{url}/steps/999/done", {}, format="json").status_code == 404
    assert olivia.post(f"{url}/close", {"resolution": "short"}, format="json").status_code == 400
    closed = olivia.post(f"{url}/close", {"resolution": "A drill: the playbook's clocks held."}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert api_as(a_admin).client.get(url).status_code == 404  # the host's investigation: partners find nothing
    unknown = olivia.post("/api/v1/incidents/declare", {**form, "charter": "nope"}, format="json")
    assert unknown.status_code == 404
