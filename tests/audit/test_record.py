import pytest
from django.db import transaction

from accounts.models import Organisation
from audit.context import request_context
from audit.models import AppendOnlyError, Event
from audit.trail import Actor, OutsideTransactionError, record
from charters.models import Asset
from charters.services import asset_register
from tests.conftest import SETUP, committing


def test_a_change_and_its_event_commit_together(officer, host):
    before = Event.objects.count()
    asset = asset_register(name="atlas-7b", kind="model", owner=host, by=SETUP)
    event = Event.objects.get(action="asset.registered", target_id=str(asset.pk))
    assert Event.objects.count() == before + 1
    assert event.target_type == "charters.asset"
    assert event.details == {"name": "atlas-7b", "kind": "model", "owner": host.slug}
    assert event.partner == ""


def test_a_rolled_back_change_leaves_no_event(host):
    before = Event.objects.count()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        asset_register(name="atlas-7b", kind="model", owner=host, by=SETUP)
        raise Abort

    assert not Asset.objects.filter(name="atlas-7b").exists()
    assert Event.objects.count() == before


def test_an_event_about_a_partner_names_the_partner_by_slug(partner_a):
    asset = asset_register(name="eval-suite", kind="dataset", owner=partner_a, by=SETUP)
    assert Event.objects.get(action="asset.registered", target_id=str(asset.pk)).partner == "northwind"


def test_events_carry_the_request_id_and_client_address(db):
    with request_context(request_id="req-42", client_address="192.0.2.7"), transaction.atomic():
        event = record(action="auth.login", actor=Actor.system("tests"))
    assert (event.request_id, event.client_address) == ("req-42", "192.0.2.7")


def test_details_are_stored_as_plain_json(host):
    with transaction.atomic():
        event = record(action="auth.login", actor=SETUP, details={"when": host.created_at, "n": 1})
    event.refresh_from_db()
    assert event.details == {"n": 1, "when": host.created_at.isoformat()}


@committing
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(OutsideTransactionError, match=r"must run inside transaction\.atomic"):
        record(action="auth.login", actor=Actor.system("tests"))
    assert not Event.objects.filter(action="auth.login").exists()


def test_a_recorded_event_cannot_be_changed_or_deleted_through_the_application(host):
    event = Event.objects.filter(action="organisation.created").get()
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()
    event.refresh_from_db()
    assert event.reason == ""


def test_the_audit_app_imports_no_other_app_of_ours():
    from pathlib import Path

    audit_dir = Path(__file__).resolve().parents[2] / "audit"
    offenders = [
        str(path.relative_to(audit_dir))
        for path in audit_dir.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(("from accounts", "import accounts", "from charters", "from governance"))
    ]
    assert offenders == []


def test_the_host_organisation_is_unique(host):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Organisation(name="Another host", slug="another", kind=Organisation.Kind.HOST).full_clean()
