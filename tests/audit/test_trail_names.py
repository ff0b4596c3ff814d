"""The trail page names what each event acted on, linked to its page, and shows its details as a list: one query per
kind of target for the whole page, only names the reader may see (audit.presentation and each app's
trail_targets)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import trail_targets as accounts_targets
from accounts.services import actor_for
from audit.models import Event
from audit.presentation import entries, targets_named
from governance import trail_targets as governance_targets
from governance.grants.services import grant_suspend
from governance.policy import bundles
from tests.conftest import SETUP
from tests.helpers import sign_in


@pytest.fixture
def officer_client(client, officer):
    sign_in(client, officer)
    return client


@pytest.fixture
def acted(make_grant, officer):
    """Events about a grant, a charter and its version, a bundle, an asset and people."""
    grant = make_grant()
    grant_suspend(grant=grant, by=actor_for(officer), reason="Anomaly.")
    bundles.bundles_record()
    return grant


def cells(page: str, event: Event) -> str:
    row = re.search(rf"<tr>\s*<td>{event.pk}</td>(.*?)</tr>", page, re.DOTALL)
    assert row is not None, event
    return row.group(1)


def test_each_target_is_named_and_linked_to_its_page(officer_client, acted, live_charter):
    page = officer_client.get("/trail/").content.decode()
    suspended = Event.objects.get(action="grant.suspended")
    assert f'<a href="/grants/?grant={acted.pk}">grant #{acted.pk} (northwind-gateway)</a>' in cells(page, suspended)
    approved = Event.objects.filter(action="charter_version.approved").latest("id")
    assert '<a href="/registry/charters/northwind-evaluation/v1/">northwind-evaluation v1</a>' in cells(page, approved)
    recorded = Event.objects.filter(action="policy.bundle_recorded").latest("id")
    assert re.search(
        r'<a href="/governance/bundles/\d+/">bundle [0-9a-f]{12} \(change \d+\)</a>', cells(page, recorded)
    )
    assert "governance.grant" not in page and "charters.charterversion" not in page


def test_details_are_a_definition_list_not_a_python_dict(officer_client, acted):
    page = officer_client.get("/trail/").content.decode()
    recorded = cells(page, Event.objects.filter(action="policy.bundle_recorded").latest("id"))
    assert '<dl class="details"><dt>' in recorded and "<dt>changed by</dt>" in recorded
    assert "{&#x27;" not in page and "{'" not in page


def test_nested_details_are_lists_of_their_own():
    shown = entries({"unrestored": [{"what": "grant #3", "why": "revoked"}], "suspended": [3, 4], "held": False})
    assert [entry.term for entry in shown] == ["unrestored", "suspended", "held"]
    assert shown[0].value[0].value[0].term == "what" and shown[1].value == "3, 4" and shown[2].value == "no"


def test_the_export_form_sits_above_the_events(officer_client, acted):
    page = officer_client.get("/trail/").content.decode()
    assert page.index('action="/trail/exports/"') < page.index('id="events"')


def test_a_full_page_of_events_costs_the_same_queries_as_a_few(officer_client, acted):
    def page_queries():
        with CaptureQueriesContext(connection) as captured:
            assert officer_client.get("/trail/").status_code == 200
        return len(captured)

    kinds = list(Event.objects.exclude(target_type="").values_list("target_type", flat=True).distinct())
    examples = [Event.objects.filter(target_type=kind).latest("id") for kind in kinds]
    # Start from one event per kind, the newest, so that every kind is on the page in both cases.
    copy = [field.attname for field in Event._meta.concrete_fields if field.attname not in ("id", "chain_seq")]

    def add(rounds: int) -> None:
        Event.objects.bulk_create(
            Event(**{**{name: getattr(example, name) for name in copy}, "target_id": str(10_000 + n)})
            for n in range(rounds)
            for example in examples
        )

    add(1)
    few = page_queries()
    add(50)
    assert Event.objects.count() > 50 * len(kinds)
    assert page_queries() == few


def test_a_partner_admin_is_never_told_another_partners_names(a_admin, make_grant, b_principal, a_principal):
    grant = make_grant()
    users = accounts_targets.users(a_admin, [str(a_principal.pk), str(b_principal.pk)])
    assert [target.label for target in users.values()] == ["northwind-gateway"]
    assert governance_targets.grants(a_admin, [str(grant.pk)])  # its own partner's grant
    others = Event.objects.filter(target_type="accounts.user", target_id=str(b_principal.pk))
    named = targets_named(others, viewer=a_admin)
    assert named and all("helix" not in target.label for target in named.values())


def test_an_unknown_kind_or_id_is_shown_by_its_model_name_unlinked(officer):
    made = Event(action="grant.suspended", actor_type="system", target_type="governance.grant", target_id="999999")
    odd = Event(action="grant.suspended", actor_type="system", target_type="nowhere.thing", target_id="1")
    named = targets_named([made, odd], viewer=officer)
    assert (
        named[("governance.grant", "999999")].label == "grant 999999" and not named[("governance.grant", "999999")].url
    )
    assert named[("nowhere.thing", "1")].label == "nowhere.thing 1"


def test_grant_namers_see_no_other_partners_grant(b_admin, make_grant):
    grant = make_grant()  # Northwind's
    assert governance_targets.grants(b_admin, [str(grant.pk)]) == {}
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")
    assert (
        targets_named(Event.objects.filter(action="grant.suspended"), viewer=b_admin)[
            ("governance.grant", str(grant.pk))
        ].label
        == f"grant {grant.pk}"
    )


def test_a_decisions_details_name_its_grant_and_asset_and_link_its_explanation(
    officer_client, api_as, a_principal, make_grant, atlas
):
    grant = make_grant()
    answer = api_as(a_principal).client.post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}, format="json"
    )
    decision_id = answer.json()["decision_id"]
    bundles.bundles_record()
    page = officer_client.get("/trail/?action=decision.allow").content.decode()
    row = cells(page, Event.objects.get(action="decision.allow"))
    assert f'<a href="/governance/decisions/explain/?decision={decision_id}" title="{decision_id}">' in row
    assert f'title="{grant.pk}">grant #{grant.pk} (northwind-gateway)</a>' in row
    assert re.search(rf'<a href="/registry/assets/\d+/" title="{atlas}">atlas-7b 1.0</a>', row)
    assert re.search(r'title="[0-9a-f]{64}">bundle [0-9a-f]{12} \(change \d+\)</a>', row)
