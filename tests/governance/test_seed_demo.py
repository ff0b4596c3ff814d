import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken, Partner, User
from accounts.tokens import token_digest
from audit.models import Event
from charters.models import Asset, AssetVersion, Charter

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes_in(queries):
    return [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(WRITES)]


def test_seed_demo_creates_the_demo_world(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Partner.objects.count() >= 2
    assert User.objects.filter(groups__name="governance_officer").count() == 2
    assert User.objects.filter(groups__name="auditor").count() == 1
    for partner in Partner.objects.all():
        assert partner.members.filter(groups__name="partner_admin").exists()
        assert partner.members.filter(groups__name="partner_principal", is_service=True).exists()
    assert Asset.objects.count() >= 4 and AssetVersion.objects.count() >= 5
    assert set(AssetVersion.objects.values_list("classification", flat=True)) == {
        "shareable",
        "restricted",
        "proprietary",
    }
    assert Event.objects.filter(actor_label="seed_demo").count() > 10


def test_seed_demo_activates_the_example_charters_with_two_officers_and_the_partners_acceptance(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    charters = Charter.objects.select_related("active_version__approved_by", "active_version__author")
    assert {charter.slug for charter in charters} == {"northwind-evaluation", "helix-finetune"}
    for charter in charters:
        version = charter.active_version
        assert charter.status == "active"
        assert (version.author.username, version.approved_by.username) == ("olivia", "oscar")
        assert version.acknowledgements.get().partner_admin.username == f"{charter.partner.slug}-admin"


def test_a_second_seed_demo_writes_nothing_at_all(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    events = Event.objects.count()
    with CaptureQueriesContext(connection) as queries:
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert writes_in(queries.captured_queries) == []
    assert Event.objects.count() == events


def test_tokens_out_rotates_the_demo_tokens_in_place(db, tmp_path):
    out = tmp_path / "tokens.json"
    call_command("seed_demo", tokens_out=out, stdout=open("/dev/null", "w"))  # noqa: SIM115
    first = json.loads(out.read_text())
    rows = ApiToken.objects.count()
    call_command("seed_demo", tokens_out=out, stdout=open("/dev/null", "w"))  # noqa: SIM115
    second = json.loads(out.read_text())

    assert {"officer", "second_officer", "auditor", "partners"} <= set(first)
    assert set(second["partners"]) == set(Partner.objects.values_list("slug", flat=True))
    for people in second["partners"].values():
        assert {"admin", "principal"} <= set(people)
    assert ApiToken.objects.count() == rows, "rotation reuses the rows"
    assert first["officer"] != second["officer"]
    assert not ApiToken.objects.filter(digest=token_digest(first["officer"])).exists()
    assert ApiToken.objects.get(digest=token_digest(second["officer"])).user.username == "olivia"
    assert out.stat().st_mode & 0o777 == 0o600


def test_demo_tokens_work_against_the_api(db, tmp_path):
    from rest_framework.test import APIClient

    out = tmp_path / "tokens.json"
    call_command("seed_demo", tokens_out=out, stdout=open("/dev/null", "w"))  # noqa: SIM115
    tokens = json.loads(out.read_text())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['partners']['northwind']['principal']}")
    assert client.get("/api/v1/me").json()["username"] == "northwind-gateway"


def test_each_partners_allowed_example_is_allowed_for_its_principal(db, tmp_path):
    from rest_framework.test import APIClient

    out = tmp_path / "tokens.json"
    call_command("seed_demo", tokens_out=out, stdout=open("/dev/null", "w"))  # noqa: SIM115
    tokens = json.loads(out.read_text())
    for slug, entry in tokens["partners"].items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {entry['principal']}")
        answer = client.post("/api/v1/decisions", entry["allowed_example"], format="json").json()
        assert answer["allow"] is True, (slug, answer)


def test_seed_demo_refuses_a_folder_that_does_not_exist(db, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("seed_demo", tokens_out=tmp_path / "nope" / "tokens.json")


def test_seed_demo_refuses_production(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refuses to run with ACCORD_ENV=production"):
        call_command("seed_demo")
    assert not Partner.objects.exists()


def test_the_demo_people_have_an_authenticator_whose_codes_demo_codes_prints(db):
    from io import StringIO

    from django_otp.plugins.otp_totp.models import TOTPDevice

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    people = User.objects.filter(is_service=False)
    assert TOTPDevice.objects.filter(user__in=people, confirmed=True).count() == people.count() > 0
    assert not TOTPDevice.objects.filter(user__is_service=True).exists()
    out = StringIO()
    call_command("demo_codes", "olivia", stdout=out)
    code = out.getvalue().split()[1]
    assert TOTPDevice.objects.get(user__username="olivia").verify_token(code)


def test_demo_codes_do_not_exist_in_production(db, settings):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="people enrol their own factors"):
        call_command("demo_codes", stdout=open("/dev/null", "w"))  # noqa: SIM115
