"""Expiry on time: grants past their window, charters past theirs with their grants; a second run changes nothing,
and a run that stops midway is finished by the next without repeating anything."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import Event
from charters.models import Charter
from governance.decisions.services import DecisionRequest, decide
from governance.grants import expiry
from governance.models import Grant
from governance.tasks import expiry_run as expiry_task
from tests.world import CHARTER_FROM, CHARTER_UNTIL


def events(action):
    return Event.objects.filter(action=action).count()


@pytest.fixture
def soon(make_grant):
    """A grant whose window ends in an hour."""
    ends = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    return make_grant(valid_until=ends), ends


def test_a_grant_expires_at_the_end_of_its_window_and_then_denies(soon, a_principal, atlas):
    grant, ends = soon
    with time_machine.travel(ends - timedelta(seconds=1), tick=False):
        assert expiry.expiry_run().grants == 0
        assert decide(a_principal, DecisionRequest("infer", atlas, "benchmarking")).allow
    with time_machine.travel(ends + timedelta(seconds=20), tick=False):  # the next 30-second run after the end
        assert expiry.expiry_run().grants == 1
        grant.refresh_from_db()
        assert grant.status == Grant.Status.EXPIRED and grant.status_reason == "Its window ended."
        denied = decide(a_principal, DecisionRequest("infer", atlas, "benchmarking"))
        assert not denied.allow and denied.reasons[0]["code"] == "grant_expired"
        assert expiry.expiry_run().grants == 0 and events("grant.expired") == 1  # a second run changes nothing


def test_a_charter_past_its_window_expires_with_its_grants(make_grant, make_request, live_charter, demo_registry):
    active = make_grant()
    requested = make_request(
        asset_version=demo_registry["atlas-7b 1.1"], valid_until=CHARTER_FROM + timedelta(days=300)
    )
    # The charter's last day is CHARTER_UNTIL's; it expires with the first run of the day after.
    with time_machine.travel(CHARTER_UNTIL - timedelta(minutes=1), tick=False):
        quiet = expiry.expiry_run()
        assert (quiet.charters, quiet.grants) == (0, 0)
    with time_machine.travel(CHARTER_UNTIL + timedelta(days=1, seconds=20), tick=False):
        result = expiry.expiry_run()
        assert (result.charters, result.grants, result.refused) == (1, 1, 1)
        assert Charter.objects.get(pk=live_charter.charter.pk).status == Charter.Status.EXPIRED
        active.refresh_from_db()
        requested.refresh_from_db()
        assert active.status == Grant.Status.EXPIRED and "Charter northwind-evaluation expired" in active.status_reason
        assert requested.status == Grant.Status.REFUSED
        again = expiry.expiry_run()
        assert (again.charters, again.grants, again.refused) == (0, 0, 0)
        assert events("charter.expired") == 1 and events("grant.expired") == 1


def test_a_run_that_stops_midway_is_finished_by_the_next_without_repeating(make_grant, monkeypatch):
    ends = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    grants = [make_grant(valid_until=ends, purposes=[purpose]) for purpose in ("benchmarking", "safety-evaluation")]
    real = expiry.grant_services.grant_expire
    calls = []

    def dies_on_the_second(**kwargs):
        calls.append(kwargs["grant"].pk)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    with time_machine.travel(ends + timedelta(seconds=1), tick=False):
        monkeypatch.setattr(expiry.grant_services, "grant_expire", dies_on_the_second)
        with pytest.raises(RuntimeError):
            expiry_task()
        assert Grant.objects.filter(pk__in=[g.pk for g in grants], status=Grant.Status.EXPIRED).count() == 1
        monkeypatch.setattr(expiry.grant_services, "grant_expire", real)
        assert expiry_task() == {"charters": 0, "grants": 1, "refused": 0}  # the redelivered run: only the rest
        assert Grant.objects.filter(status=Grant.Status.EXPIRED).count() == 2 and events("grant.expired") == 2


def test_the_expiry_schedule_is_data_that_officers_see(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="expiry")
    assert task.task == "governance.tasks.expiry_run" and task.interval.every == 30 and task.enabled
