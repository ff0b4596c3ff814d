import html

import pytest

from accounts.services import actor_for
from audit.models import Event
from charters.models import Charter, CharterAcknowledgement
from charters.services.charters import charter_apply, charter_version_approve, charter_version_submit
from tests.helpers import sign_in


def shown(response):
    """The page as a person reads it (entities such as &#x27; unescaped)."""
    return html.unescape(response.content.decode())


def apply(text, author):
    return charter_apply(text=text, by=actor_for(author))


@pytest.fixture
def active_charter(charter_text, officer, second_officer):
    version = apply(charter_text(), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    return charter_version_approve(version=version, by=actor_for(second_officer))


def test_an_officer_writes_a_charter_in_the_editor(client, officer, charter_text):
    sign_in(client, officer)
    assert "name: northwind-evaluation" in client.get("/registry/charters/new/").content.decode()
    response = client.post("/registry/charters/new/", {"document": charter_text()})
    assert response.status_code == 302 and response["Location"] == "/registry/charters/northwind-evaluation/"
    assert Charter.objects.get().versions.get().author == officer


def test_a_bad_charter_in_the_editor_shows_every_problem_and_saves_nothing(client, officer, charter_text):
    sign_in(client, officer)
    text = charter_text(lambda d: d["assets"]["shareable"].append({"asset": "atlas-70b", "version": "2.0"}))
    response = client.post("/registry/charters/new/", {"document": text})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="problems"' in page and "Nothing was saved" in page
    assert "classified proprietary, so it can never be shareable" in page
    assert not Charter.objects.exists()


def test_a_stale_editor_does_not_overwrite_a_newer_draft(client, officer, second_officer, charter_text):
    version = apply(charter_text(), officer)
    sign_in(client, officer)
    url = f"/registry/charters/northwind-evaluation/v{version.number}/edit/"
    apply(charter_text(lambda d: d.update(title="Oscar was faster")), second_officer)
    response = client.post(url, {"document": charter_text(lambda d: d.update(title="Olivia's")), "revision": "1"})
    assert "Someone else saved version 1" in response.content.decode()
    version.refresh_from_db()
    assert version.document["title"] == "Oscar was faster"


def test_the_editor_of_one_charter_cannot_write_another(client, officer, charter_text):
    version = apply(charter_text(), officer)
    sign_in(client, officer)
    response = client.post(
        f"/registry/charters/northwind-evaluation/v{version.number}/edit/",
        {"document": charter_text(lambda d: d.update(name="something-else")), "revision": "1"},
    )
    assert "this editor is for charter 'northwind-evaluation'" in shown(response)
    assert list(Charter.objects.values_list("slug", flat=True)) == ["northwind-evaluation"]


def test_submit_then_approve_in_the_ui_honours_the_two_person_rule(client, officer, second_officer, charter_text):
    apply(charter_text(), officer)
    sign_in(client, officer)
    base = "/registry/charters/northwind-evaluation/v1"
    client.post(f"{base}/submit/")
    page = client.get(f"{base}/").content.decode()
    assert "another officer approves it (two-person rule)" in page and "Approve and activate" not in page
    refused = client.post(f"{base}/approve/", follow=True).content.decode()
    assert "two-person rule needs a second officer" in refused
    sign_in(client, second_officer)
    client.post(f"{base}/approve/")
    assert Charter.objects.get().status == "active"


def test_suspending_needs_a_reason_and_is_recorded(client, officer, active_charter):
    sign_in(client, officer)
    page = client.post("/registry/charters/northwind-evaluation/suspend/", {"reason": ""}, follow=True)
    assert "Give the reason" in page.content.decode()
    client.post("/registry/charters/northwind-evaluation/suspend/", {"reason": "usage spike under review"})
    assert Charter.objects.get().status == "suspended"
    assert Event.objects.get(action="charter.suspended").reason == "usage spike under review"


def test_the_diff_page_shows_two_versions_side_by_side(client, officer, active_charter, charter_text):
    apply(charter_text(lambda d: d["review"].update(cadence_days=45)), officer)
    sign_in(client, officer)
    page = client.get("/registry/charters/northwind-evaluation/diff/", {"a": 1, "b": 2}).content.decode()
    assert "version 1 (active)" in page and "version 2 (draft)" in page
    assert 'cadence_days:&nbsp;<span class="diff_chg">90</span>' in page
    assert 'cadence_days:&nbsp;<span class="diff_chg">45</span>' in page


def test_the_diff_page_refuses_a_version_that_does_not_exist(client, officer, active_charter):
    sign_in(client, officer)
    response = client.get("/registry/charters/northwind-evaluation/diff/", {"a": 1, "b": 9}, follow=True)
    assert "Pick two of this charter's versions (1)" in shown(response)


def test_an_auditor_reads_charters_but_cannot_change_them(client, auditor, active_charter):
    sign_in(client, auditor)
    assert client.get("/registry/charters/northwind-evaluation/v1/").status_code == 200
    assert client.post("/registry/charters/northwind-evaluation/suspend/", {"reason": "x"}).status_code == 403
    assert Charter.objects.get().status == "active"


def test_a_partner_admin_sees_only_their_charters(client, a_admin, b_admin, active_charter):
    sign_in(client, b_admin)
    assert "northwind-evaluation" not in client.get("/registry/charters/").content.decode()
    assert client.get("/registry/charters/northwind-evaluation/").status_code == 404
    sign_in(client, a_admin)
    assert "northwind-evaluation" in client.get("/registry/charters/").content.decode()


def test_a_partner_admin_accepts_in_the_browser_after_confirming_trainings(client, a_admin, active_charter):
    sign_in(client, a_admin)
    url = "/registry/charters/northwind-evaluation/accept/"
    assert "responsible-evaluation" in client.get(url).content.decode()
    missing = shown(client.post(url, {}, follow=True))
    assert '<li class="error">Confirm each required training first: responsible-evaluation.</li>' in missing
    client.post(url, {"training": ["responsible-evaluation"]})
    assert CharterAcknowledgement.objects.get().partner_admin == a_admin
    page = shown(client.get("/registry/charters/northwind-evaluation/"))
    assert "northwind-admin accepted v1" in page and "Review and accept" not in page


# --- API ------------------------------------------------------------------------------------------------


def test_the_charter_schema_is_published(client, db):
    response = client.get("/api/v1/charters/schema")
    assert response.status_code == 200 and response.json()["title"] == "Accord collaboration charter"


def test_a_partner_admin_accepts_through_the_api(api_as, a_admin, active_charter):
    caller = api_as(a_admin)
    listed = caller.client.get("/api/v1/charters").json()["results"]
    assert [(c["slug"], c["active_version"], c["accepted"]) for c in listed] == [("northwind-evaluation", 1, False)]
    version = caller.client.get("/api/v1/charters/northwind-evaluation/versions/1").json()
    assert version["trainings"][0]["name"] == "responsible-evaluation"
    # A partner reads the agreement and its hash; the whole version's hash covers the host-only terms too.
    assert version["agreement_hash"] == active_charter.agreement_hash and version["content_hash"] is None
    response = caller.client.post(
        "/api/v1/charters/northwind-evaluation/acknowledge",
        {"version": 1, "trainings": ["responsible-evaluation"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["content_hash"] == active_charter.agreement_hash
    assert response.json()["covers"] == "agreement"
    assert caller.client.get("/api/v1/charters").json()["results"][0]["accepted"] is True


def test_accepting_without_the_trainings_is_a_400_naming_the_field(api_as, a_admin, active_charter):
    response = api_as(a_admin).client.post(
        "/api/v1/charters/northwind-evaluation/acknowledge", {"version": 1}, format="json"
    )
    assert response.status_code == 400
    assert "responsible-evaluation" in response.json()["error"]["fields"]["trainings"][0]
    assert not CharterAcknowledgement.objects.exists()


def test_another_partner_gets_404_accepting_or_reading_a_charter(api_as, b_admin, active_charter):
    client = api_as(b_admin).client
    assert client.post("/api/v1/charters/northwind-evaluation/acknowledge", {"version": 1}).status_code == 404
    assert client.get("/api/v1/charters/northwind-evaluation/versions/1").status_code == 404
    assert client.get("/api/v1/charters").json()["results"] == []


def test_a_principal_cannot_accept(api_as, a_principal, active_charter):
    response = api_as(a_principal).client.post(
        "/api/v1/charters/northwind-evaluation/acknowledge",
        {"version": 1, "trainings": ["responsible-evaluation"]},
        format="json",
    )
    assert response.status_code == 403
