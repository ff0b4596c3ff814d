import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from charters.models import Asset, AssetVersion
from charters.services import asset_register, asset_version_register
from tests.conftest import SETUP, committing
from tests.factories import AssetFactory, AssetVersionFactory
from tests.helpers import sign_in

FINGERPRINT = "a" * 64


def register_version(asset, **overrides):
    fields = {
        "label": "1.0",
        "fingerprint": FINGERPRINT,
        "size_bytes": 10,
        "classification": "shareable",
        "storage_uri": "s3://x/1.0",
    }
    return asset_version_register(asset=asset, by=SETUP, **{**fields, **overrides})


@pytest.mark.parametrize(
    "fingerprint",
    ["a" * 63, "a" * 65, "g" * 64, "sha256:" + "a" * 57, " " * 64, ""],
)
def test_a_fingerprint_must_be_64_hex_characters(host, fingerprint):
    asset = asset_register(name="atlas", kind="model", owner=host, by=SETUP)
    with pytest.raises(ValidationError) as caught:
        register_version(asset, fingerprint=fingerprint)
    assert "fingerprint" in caught.value.message_dict
    assert not AssetVersion.objects.exists()


def test_an_uppercase_fingerprint_is_stored_lowercase(host):
    asset = asset_register(name="atlas", kind="model", owner=host, by=SETUP)
    assert register_version(asset, fingerprint="ABCDEF" + "0" * 58).fingerprint == "abcdef" + "0" * 58


def test_the_database_itself_refuses_a_malformed_fingerprint(host):
    asset = AssetFactory(owner=host)
    with pytest.raises(IntegrityError), transaction.atomic():
        AssetVersion.objects.create(
            asset=asset, label="x", fingerprint="Z" * 64, size_bytes=1, classification="shareable", storage_uri="s3://x"
        )


def test_a_fingerprint_is_unique_across_the_whole_registry(host, partner_a):
    register_version(asset_register(name="atlas", kind="model", owner=host, by=SETUP))
    other = asset_register(name="their-model", kind="model", owner=partner_a, by=SETUP)
    with pytest.raises(ValidationError, match="already has this fingerprint"):
        register_version(other, label="9.9")
    assert AssetVersion.objects.count() == 1
    assert Event.objects.filter(action="asset_version.registered").count() == 1


def test_a_version_label_is_unique_within_its_asset(host):
    asset = asset_register(name="atlas", kind="model", owner=host, by=SETUP)
    register_version(asset)
    with pytest.raises(ValidationError):
        register_version(asset, fingerprint="b" * 64)


def test_an_asset_name_is_unique_per_owner(host, partner_a):
    asset_register(name="atlas", kind="model", owner=host, by=SETUP)
    asset_register(name="atlas", kind="model", owner=partner_a, by=SETUP)
    with pytest.raises(ValidationError, match="already has an asset called 'atlas'"):
        asset_register(name="atlas", kind="model", owner=host, by=SETUP)


@pytest.mark.postgres
@committing
def test_two_concurrent_registrations_of_one_fingerprint_leave_one_version_and_one_clear_error(host):
    assets = [AssetFactory(owner=host, name=f"racer-{n}") for n in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def register(asset):
        try:
            barrier.wait(timeout=10)
            register_version(asset, label=asset.name)
            outcomes.append("registered")
        except ValidationError as error:
            outcomes.append(" ".join(error.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(asset,)) for asset in assets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("registered") == 1
    assert any("already has this fingerprint" in outcome for outcome in outcomes)
    assert AssetVersion.objects.filter(fingerprint=FINGERPRINT).count() == 1
    assert Event.objects.filter(action="asset_version.registered").count() == 1


# --- Tenant boundary: partners see their own assets and nothing of the host's or other partners' ---------


@pytest.fixture
def registry(host, partner_a, partner_b):
    return {
        "host": AssetVersionFactory(asset=AssetFactory(owner=host, name="atlas-70b")).asset,
        "a": AssetVersionFactory(asset=AssetFactory(owner=partner_a, name="northwind-eval")).asset,
        "b": AssetVersionFactory(asset=AssetFactory(owner=partner_b, name="helix-ft")).asset,
    }


def test_a_partner_admin_lists_only_their_partners_assets(api_as, a_admin, registry):
    names = [asset["name"] for asset in api_as(a_admin).client.get("/api/v1/assets").json()["results"]]
    assert names == ["northwind-eval"]


def test_a_partner_admin_gets_404_on_another_partners_asset(api_as, a_admin, registry):
    response = api_as(a_admin).client.get(f"/api/v1/assets/{registry['b'].pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_partner_admin_gets_404_on_a_host_only_asset(api_as, a_admin, registry):
    assert api_as(a_admin).client.get(f"/api/v1/assets/{registry['host'].pk}").status_code == 404


def test_a_partner_admin_cannot_filter_their_way_into_another_partner(api_as, a_admin, registry):
    response = api_as(a_admin).client.get("/api/v1/assets", {"owner": "helix"})
    assert response.json()["results"] == []


def test_a_partner_admin_sees_no_host_or_other_partner_assets_on_the_web(client, a_admin, registry):
    sign_in(client, a_admin)
    page = client.get("/portal/").content.decode()
    assert "northwind-eval" in page
    assert "atlas-70b" not in page and "helix-ft" not in page and "Helix Bio" not in page
    assert client.get(f"/registry/assets/{registry['b'].pk}/").status_code == 404
    assert client.get(f"/registry/assets/{registry['host'].pk}/").status_code == 404


def test_partners_list_shows_a_partner_only_itself(api_as, a_admin, b_admin, registry):
    assert [p["slug"] for p in api_as(a_admin).client.get("/api/v1/partners").json()["results"]] == ["northwind"]


def test_officers_and_auditors_see_the_whole_registry(api_as, officer, auditor, registry):
    for person in (officer, auditor):
        names = {asset["name"] for asset in api_as(person).client.get("/api/v1/assets").json()["results"]}
        assert names == {"atlas-70b", "northwind-eval", "helix-ft"}


# --- Registering through the API and the web ----------------------------------------------------------


def test_an_officer_registers_an_asset_and_a_version_through_the_api(api_as, officer, host):
    client = api_as(officer).client
    created = client.post("/api/v1/assets/register", {"name": "atlas-7b", "kind": "model", "owner": host.slug})
    assert created.status_code == 201, created.json()
    version = client.post(
        f"/api/v1/assets/{created.json()['id']}/versions/register",
        {
            "label": "1.0",
            "fingerprint": "c" * 64,
            "size_bytes": 5,
            "classification": "restricted",
            "storage_uri": "s3://m",
        },
    )
    assert version.status_code == 201, version.json()
    event = Event.objects.get(action="asset_version.registered")
    assert (event.actor_label, event.details["fingerprint"]) == ("olivia", "c" * 64)
    assert event.request_id


def test_a_duplicate_fingerprint_through_the_api_is_a_400_naming_the_field(api_as, officer, host):
    asset = AssetFactory(owner=host)
    AssetVersionFactory(fingerprint="d" * 64)
    response = api_as(officer).client.post(
        f"/api/v1/assets/{asset.pk}/versions/register",
        {
            "label": "1.0",
            "fingerprint": "d" * 64,
            "size_bytes": 5,
            "classification": "shareable",
            "storage_uri": "s3://m",
        },
    )
    assert response.status_code == 400
    assert "already has this fingerprint" in response.json()["error"]["fields"]["fingerprint"][0]


def test_a_bad_classification_is_a_400_not_a_500(api_as, officer, host):
    asset = AssetFactory(owner=host)
    response = api_as(officer).client.post(
        f"/api/v1/assets/{asset.pk}/versions/register",
        {"label": "1.0", "fingerprint": "e" * 64, "size_bytes": -1, "classification": "secret", "storage_uri": "s"},
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"size_bytes", "classification"}


def test_a_partner_admin_cannot_register_assets(api_as, a_admin, partner_a):
    response = api_as(a_admin).client.post(
        "/api/v1/assets/register", {"name": "sneaky", "kind": "model", "owner": partner_a.slug}
    )
    assert response.status_code == 403
    assert "Only governance officers" in response.json()["error"]["message"]
    assert not Asset.objects.filter(name="sneaky").exists()


def test_an_officer_registers_an_asset_on_the_web(client, officer, host):
    sign_in(client, officer)
    response = client.post(
        "/registry/assets/new/", {"name": "atlas-7b", "kind": "model", "owner": host.slug, "description": ""}
    )
    asset = Asset.objects.get(name="atlas-7b")
    assert response.status_code == 302 and response["Location"] == f"/registry/assets/{asset.pk}/"
    response = client.post(
        f"/registry/assets/{asset.pk}/versions/new/",
        {
            "label": "1.0",
            "fingerprint": "f" * 64,
            "size_bytes": 1,
            "classification": "shareable",
            "storage_uri": "s3://a",
        },
        follow=True,
    )
    assert "Version 1.0 of atlas-7b is registered." in response.content.decode()


def test_the_web_form_shows_a_duplicate_fingerprint_on_its_field(client, officer, host):
    AssetVersionFactory(fingerprint="1" * 64)
    asset = AssetFactory(owner=host)
    sign_in(client, officer)
    response = client.post(
        f"/registry/assets/{asset.pk}/versions/new/",
        {"label": "1.0", "fingerprint": "1" * 64, "size_bytes": 1, "classification": "shareable", "storage_uri": "s"},
    )
    assert response.status_code == 200
    assert "already has this fingerprint" in response.context["form"].errors["fingerprint"][0]


def test_an_auditor_cannot_open_the_registration_form(client, auditor):
    sign_in(client, auditor)
    assert client.get("/registry/assets/new/").status_code == 403


def test_the_home_page_costs_the_same_queries_however_many_assets_there_are(client, officer, registry):
    sign_in(client, officer)

    def queries_for_home_page():
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/").content.decode()
        return len(queries), page

    few, _ = queries_for_home_page()
    for asset in AssetFactory.create_batch(6, owner=registry["host"].owner):
        AssetVersionFactory.create_batch(3, asset=asset)
    many, page = queries_for_home_page()
    assert many == few
    assert "Northwind Labs" in page and "Helix Bio" in page and "atlas-70b" in page
