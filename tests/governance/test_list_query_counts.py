"""The list pages cost the same number of queries with ten rows as with a thousand: each row's names come with the
row (select_related), never a query of its own. (The officer's home and the assets have their own such tests.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from accounts.models import Proposal
from governance.models import Grant, Incident
from tests.helpers import sign_in


def copies(model: type[Model], original: Model, count: int, **changes: object) -> None:
    fields = {f.attname: getattr(original, f.attname) for f in model._meta.concrete_fields if f.attname != "id"}
    model._default_manager.bulk_create(model(**{**fields, **changes}) for _ in range(count))


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.fixture
def one_of_each(live_charter, make_grant, officer):
    from accounts.proposals import proposal_make
    from accounts.services import actor_for
    from governance.incidents.services import incident_declare

    grant = make_grant()
    incident = incident_declare(
        charter=live_charter.charter,
        title="Drill",
        severity="low",
        summary="A drill.",
        drill=True,
        by=actor_for(officer),
    )
    proposal = proposal_make(kind="charter_end", target=live_charter.charter.slug, reason="x", by=actor_for(officer))
    return {Grant: grant, Incident: incident, Proposal: proposal}


LISTS: dict[str, tuple[type[Model], dict[str, object]]] = {
    "/grants/?status=all": (Grant, {}),
    "/governance/incidents/": (Incident, {}),
    "/proposals/": (Proposal, {"status": "withdrawn"}),  # one open proposal per act; past ones are many
}


@pytest.mark.parametrize("url", LISTS)
def test_a_list_page_costs_the_same_with_ten_rows_as_with_a_thousand(client, officer, one_of_each, url):
    model, changes = LISTS[url]
    original = one_of_each[model]
    sign_in(client, officer)
    add: Callable[[int], None] = lambda count: copies(model, original, count, **changes)  # noqa: E731
    add(9)
    few = queries(client, url)
    add(990)
    assert queries(client, url) == few
    assert model._default_manager.count() >= 1000
