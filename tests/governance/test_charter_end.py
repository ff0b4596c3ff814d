"""One way to end a charter: ``charter_end`` runs its exit (or, for one that never ran, terminates it at once), and
nothing leaves a grant standing under an ended charter. A partner's access ends and comes back by accounts'
services, each with its event."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
import yaml
from django.core.exceptions import PermissionDenied

from accounts.models import Organisation
from accounts.operations import REFUSALS, Operation
from accounts.services import actor_for, partner_access_end
from audit.models import Event
from charters.models import Charter
from charters.services.charters import charter_suspend, charter_terminate
from governance.exits import services as exits
from governance.exits.services import exit_run
from governance.grants.expiry import expiry_run
from governance.models import Exit, Grant
from tests.helpers import second_officer_confirming
from tests.world import activate, in_review


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """These tests are of the act; a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


STANDING = (Grant.Status.REQUESTED, Grant.Status.ACTIVE, Grant.Status.SUSPENDED)


def standing_under_ended_charters() -> list[int]:
    ended = (Charter.Status.TERMINATED, Charter.Status.EXPIRED)
    return list(Grant.objects.filter(charter__status__in=ended, status__in=STANDING).values_list("pk", flat=True))


@pytest.mark.parametrize("suspended_first", [False, True])
def test_ending_a_charter_that_ran_starts_its_exit_which_revokes_every_grant_under_it(
    live_charter, make_grant, make_request, officer, suspended_first
):
    grants = [make_grant(), make_grant(purposes=["benchmarking"]), make_request()]
    charter = live_charter.charter
    if suspended_first:
        charter = charter_suspend(charter=charter, by=actor_for(officer), reason="Investigating.")
    ended = exits.charter_end(charter=charter, by=actor_for(officer), reason="The project is over.")
    assert ended.exit == Exit.objects.get(charter=charter) and ended.charter.status == "terminated"
    exit_run(ended.exit.pk)  # what the worker does with the task queued on commit
    assert (
        sorted(Grant.objects.filter(pk__in=[g.pk for g in grants]).values_list("status", flat=True)) == ["revoked"] * 3
    )
    assert standing_under_ended_charters() == []
    assert Event.objects.filter(action="grant.revoked").count() == 3


def test_ending_a_charter_that_never_ran_terminates_it_and_withdraws_its_draft(charter_text, officer):
    version = in_review(yaml.safe_load(charter_text()), officer)
    ended = exits.charter_end(charter=version.charter, by=actor_for(officer), reason="Not going ahead.")
    version.refresh_from_db()
    assert ended.exit is None and ended.charter.status == "terminated" and version.status == "withdrawn"
    assert not Exit.objects.exists()
    terminated = Event.objects.get(action="charter.terminated")
    assert terminated.reason == "Ended by olivia: Not going ahead."


def test_no_one_ends_a_charter_around_its_exit(live_charter, make_grant, officer, a_admin):
    grant = make_grant()
    for who in (officer, a_admin):
        with pytest.raises(PermissionDenied, match=REFUSALS[Operation.CHARTER_TERMINATE]):
            charter_terminate(charter=live_charter.charter, by=actor_for(who), reason="Quietly.")
    with pytest.raises(PermissionDenied, match=REFUSALS[Operation.CHARTER_END]):
        exits.charter_end(charter=live_charter.charter, by=actor_for(a_admin), reason="We are leaving.")
    grant.refresh_from_db()
    live_charter.charter.refresh_from_db()
    assert grant.status == "active" and live_charter.charter.status == "active"


def test_a_charter_that_expires_takes_its_grants_with_it(live_charter, make_grant, make_request, charter_window):
    make_grant()
    make_request()
    with time_machine.travel(charter_window.valid_until + timedelta(days=2), tick=False):
        result = expiry_run()
    assert (result.charters, result.grants, result.refused) == (1, 1, 1)
    assert standing_under_ended_charters() == []


def test_an_exit_ends_the_partners_access_and_a_new_charter_gives_it_back_each_with_its_event(
    live_charter, make_grant, charter_text, officer, second_officer, partner_a
):
    make_grant()
    exits.charter_end(charter=live_charter.charter, by=actor_for(officer), reason="The project is over.")
    partner_a.refresh_from_db()
    assert partner_a.access_ended_at is not None
    ended = Event.objects.get(action="partner.access_ended")
    assert (ended.partner, ended.actor_label, ended.target_id) == ("northwind", "exit", str(partner_a.pk))
    assert ended.reason == "Exit of charter northwind-evaluation: The project is over."

    def follow_up(document):
        document["name"] = "northwind-follow-up"

    activate(charter_text(follow_up), officer, second_officer)
    partner_a.refresh_from_db()
    assert partner_a.access_ended_at is None
    restored = Event.objects.get(action="partner.access_restored")
    assert (restored.partner, restored.actor_label) == ("northwind", "charter-approval")
    assert restored.reason == "Charter northwind-follow-up v1 approved by oscar."
    assert restored.details["ended_at"] == ended.details["ended_at"]


def test_people_cannot_end_a_partners_access_by_hand(partner_a, officer):
    with pytest.raises(PermissionDenied, match="only with its exit"):
        partner_access_end(partner=partner_a, by=actor_for(officer), reason="Because.")
    assert Organisation.objects.get(pk=partner_a.pk).access_ended_at is None
    assert not Event.objects.filter(action="partner.access_ended").exists()
