"""Explaining a recorded decision: the bundle it named, the lines that matched or why none did, the guardrail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from governance.grants.services import grant_resume, grant_suspend
from governance.models import PolicyBundle
from governance.policy import bundles
from tests.conftest import SETUP
from tests.helpers import sign_in


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
    sign_in(client, officer)
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
    sign_in(client, a_admin)
    assert client.get("/governance/decisions/explain/?decision=abc").status_code == 403


def test_the_bundle_named_is_the_one_in_force_when_the_decision_was_made(officer_client, gateway, make_grant, atlas):
    grant = make_grant()
    decision_id = ask(gateway, atlas)
    in_force = PolicyBundle.objects.order_by("-seq").first()
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")
    grant_resume(grant=grant, by=SETUP, reason="Cleared.")
    bundles.bundles_record()
    # The resume brought back the very same lines: a later bundle with the same hash.
    later = PolicyBundle.objects.order_by("-seq").first()
    assert later.hash == in_force.hash and later.seq > in_force.seq
    explanation, page = explain(officer_client, decision_id)
    assert explanation.bundle.seq == in_force.seq
    assert f"(change {in_force.seq})" in page


def test_the_explanation_links_the_grant_that_decided(officer_client, gateway, make_grant, atlas):
    grant = make_grant()
    explanation, page = explain(officer_client, ask(gateway, atlas))
    assert explanation.grant == grant
    assert f'href="/grants/?grant={grant.pk}"' in page
    listed = officer_client.get(f"/grants/?grant={grant.pk}")
    assert [shown.pk for shown in listed.context["grants"]] == [grant.pk]


def test_an_unknown_decision_id_is_named_with_what_to_do(officer_client, gateway, make_grant, atlas):
    response = officer_client.get("/governance/decisions/explain/?decision=no-such-decision")
    page = response.content.decode()
    assert response.status_code == 404
    assert "No recorded decision has the id <code>no-such-decision</code>" in page
    assert "Copy the <code>decision_id</code>" in page and 'name="decision"' in page
    assert not Event.objects.filter(action__startswith="decision.").exists()
