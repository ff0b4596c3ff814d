from charters.services import asset_register
from tests.conftest import SETUP
from tests.helpers import sign_in


def test_an_auditor_reads_the_trail_newest_first(client, auditor, host, partner_a):
    asset_register(name="atlas-7b", kind="model", owner=host, by=SETUP)
    asset_register(name="eval-suite", kind="dataset", owner=partner_a, by=SETUP)
    sign_in(client, auditor)
    page = client.get("/trail/").content.decode()
    assert page.index("asset.registered") < page.index("partner.created")


def test_the_trail_filters_by_partner(client, officer, host, partner_a):
    asset_register(name="atlas-7b", kind="model", owner=host, by=SETUP)
    sign_in(client, officer)
    response = client.get("/trail/", {"partner": "northwind"})
    actions = {event.action for event in response.context["events"]}
    assert actions == {"partner.created"}


def test_partner_admins_cannot_read_the_hosts_trail(client, a_admin):
    sign_in(client, a_admin)
    assert client.get("/trail/").status_code == 403
