"""Migration 0019 moves the links between exit lines and data keys out of the vault's tables into the exit's, and
back, with an exit half done: one key destroyed with its certificate, two still scheduled. The trail is untouched."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.services import actor_for
from audit import chain
from audit.models import Event
from governance.exits.selectors import exit_certificates
from governance.exits.services import exit_run, exit_start, exits_tick
from governance.models import DataKey, ExitItem, ExitItemKey
from governance.vault.destruction import destructions_run, grace
from tests.conftest import committing
from tests.helpers import second_officer_confirming


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """These tests are of the act; a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


BEFORE = ("governance", "0018_review_close")
AFTER = ("governance", "0019_exit_owns_key_links")
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def migrate_to(target):
    """Migrate the test database to ``target``; the models as they were there."""
    MigrationExecutor(connection).migrate([target])
    return MigrationExecutor(connection).loader.project_state([target]).apps


@pytest.fixture
def exit_half_done(live_charter, northwind_holdings, officer):
    """Northwind's exit a minute after the model's grace period, its trail sealed: the model destroyed and its line
    settled, the dataset (30 days' retention) and the suite (a year's) still scheduled."""
    with time_machine.travel(START, tick=False):
        exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.").pk)
    with time_machine.travel(START + grace() + timedelta(minutes=1), tick=False):
        [certificate] = destructions_run().destroyed
        exits_tick()
    chain.seal()
    yield exit_, certificate
    # Whatever the test did, the tests after it find the database at the latest migrations.
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def trail():
    return list(Event.objects.order_by("id").values())


@committing
def test_the_links_go_back_to_the_vault_and_return_to_the_exit_unchanged(exit_half_done):
    exit_, certificate = exit_half_done
    links = set(ExitItemKey.objects.values_list("item_id", "data_key_id"))
    assert len(links) == 3 and DataKey.objects.filter(status=DataKey.Status.PENDING_DESTRUCTION).count() == 2
    events = trail()
    assert all(event["chain_seq"] is not None for event in events)

    old = migrate_to(BEFORE)
    keys = old.get_model("governance", "DataKey").objects.filter(exit_item__isnull=False)
    assert set(keys.values_list("exit_item_id", "pk")) == links
    certificates = old.get_model("governance", "DestructionCertificate").objects
    assert list(certificates.values_list("pk", "exit_id")) == [(certificate.pk, exit_.pk)]
    assert trail() == events

    migrate_to(AFTER)
    assert set(ExitItemKey.objects.values_list("item_id", "data_key_id")) == links
    assert list(exit_certificates(exit_)) == [certificate]
    model = exit_.items.get(keys=certificate.data_key_id)
    assert model.status == ExitItem.Status.DESTROYED
    assert exit_.items.filter(status=ExitItem.Status.SCHEDULED).count() == 1  # the dataset; the suite is retained
    assert trail() == events


@committing
def test_the_migration_stops_rather_than_lose_a_certificates_exit(exit_half_done):
    exit_, certificate = exit_half_done
    old = migrate_to(BEFORE)
    old.get_model("governance", "DataKey").objects.filter(pk=certificate.data_key_id).update(exit_item=None)
    with pytest.raises(RuntimeError, match=f"Certificates {certificate.number} name an exit"):
        migrate_to(AFTER)
    certificates = old.get_model("governance", "DestructionCertificate").objects
    assert certificates.get(pk=certificate.pk).exit_id == exit_.pk  # nothing was migrated
    line = exit_.items.get(asset_version=certificate.data_key.asset_version)
    old.get_model("governance", "DataKey").objects.filter(pk=certificate.data_key_id).update(exit_item=line.pk)
    migrate_to(AFTER)
    assert list(exit_certificates(exit_)) == [certificate]
