"""Explaining a recorded decision: the bundle it named, the lines that matched or why none did, the guardrail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.services import bundles
from governance.services.grants import grant_suspend
from tests.conftest import SETUP, TEST_PASSWORD


@pytest.fixture
def gateway(api_as, a_principal):
    return api_as(a_principal)


def ask(caller, atlas, action="infer", purpose="safety-evaluation"):
    answer = caller.client.post(
        "/api/v1/decisions", {"action": action, "asset": atlas, "purpose": purpose}, format="json"
    ).json()
    bundles.bundles_record()
    return answer["decision_id"]


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=TEST_PASSWORD)
    return client


def explain(client, decision_id):
    response = client.get(f"/governance/decisions/explain/?decision={decision_id}")
    assert response.status_code == 200, response.content
    return response.context["explanation"], response.content.decode()


def test_an_allow_names_its_bundle_and_the_allow_line_that_matched(officer_client, gateway, make_grant, atlas):
    make_grant()
    explanation, page = explain(officer_client, ask(gateway, atlas))
    assert explanation.allow and explanation.bundle is not None and not explanation.guardrail
    assert [line[5] for line in explanation.allow_lines] == ["allow"] and not explanation.deny_lines
    assert explanation.allow_lines[0][2:5] == (atlas, "infer", "safety-evaluation")
    assert "every guardrail passed" in page


def test_a_suspension_shows_the_deny_line_that_overrode(officer_client, gateway, make_grant, atlas):
    grant_suspend(grant=make_grant(), by=SETUP, reason="Anomaly.")
    explanation, _ = explain(officer_client, ask(gateway, atlas))
    assert not explanation.allow and explanation.deny_lines and explanation.guardrail.startswith("grant_suspended")
    assert "deny overrides" in explanation.verdict


def test_a_guardrail_that_decided_after_an_allow_line_is_named(officer_client, gateway, make_grant, atlas):
    make_grant(valid_from=timezone.now() + timedelta(days=30))  # not valid yet
    explanation, _ = explain(officer_client, ask(gateway, atlas))
    assert explanation.allow_lines and explanation.guardrail.startswith("not_yet_valid")
    assert "a guardrail decided" in explanation.verdict


def test_no_matching_line_says_which_lines_cover_other_uses(officer_client, gateway, make_grant, atlas):
    make_grant()
    explanation, _ = explain(officer_client, ask(gateway, atlas, action="export_outputs", purpose="benchmarking"))
    assert not explanation.allow_lines and explanation.near_lines and "other uses" in explanation.verdict


def test_an_unknown_decision_or_none_at_all_says_what_to_give(officer_client):
    missing = officer_client.get("/governance/decisions/explain/?decision=abc")
    assert missing.status_code == 404
    empty = officer_client.get("/governance/decisions/explain/", follow=True)
    assert "decision_id in the answer, or in the trail" in empty.content.decode()


def test_partners_cannot_explain_decisions(client, a_admin):
    client.login(username=a_admin.username, password=TEST_PASSWORD)
    assert client.get("/governance/decisions/explain/?decision=abc").status_code == 403
