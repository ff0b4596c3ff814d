"""Workers killed with SIGKILL in the middle of an exit's revocations and in the middle of destructions: the real
broker (Redis, with a short visibility timeout) hands the task to a restarted worker, which finishes it once: no
grant revoked twice, no key destroyed twice, no second certificate."""

import io
import os
import signal
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from governance.exits import services as exits
from governance.models import DataKey, DestructionCertificate, Exit, Grant
from governance.tasks import exit_run as exit_task
from governance.vault import artefacts
from governance.vault.destruction import destruction_schedule
from tests.conftest import committing
from tests.helpers import QUEUE, needs_the_real_broker, second_officer_confirming, wait_for, worker


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """These tests are of the act; a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


GRANTS = 200
KEYS = 120


def worker_env():
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": "postgres://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}".format(**database),
        "REDIS_URL": settings.REDIS_URL,
        # The test's install: the worker takes its tasks from this install's queues (tests/processes.py).
        "ACCORD_INSTALL_NAME": settings.ACCORD_INSTALL_NAME,
        "ACCORD_CELERY_VISIBILITY_TIMEOUT": "3",  # redelivery within seconds, not the production hour
        "ACCORD_AUDIT_ANCHOR_FILE": str(settings.ACCORD_AUDIT_ANCHOR_FILE),
        "ACCORD_ARTEFACT_DIR": str(settings.STORAGES["artefacts"]["OPTIONS"]["location"]),
        "ACCORD_KEK": settings.ACCORD_KEK,
        "ACCORD_AUDIT_SIGNING_KEY": settings.ACCORD_AUDIT_SIGNING_KEY,
    }


def kill_midway(task, args, progress, *, at_least):
    """Start a worker on the task, SIGKILL it once ``progress()`` reaches ``at_least``; what it had done by then."""
    first = worker(worker_env())
    try:
        current_app.send_task(task, args=args, queue=QUEUE)
        assert wait_for(lambda: progress() >= at_least, timeout=60, every=0.01), (
            "the first worker never started the task"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    return progress()


def finish_with_a_new_worker(done, timeout=90):
    second = worker(worker_env())
    try:
        assert wait_for(done, timeout=timeout, every=0.01), "the restarted worker did not finish the redelivered task"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_an_exit_killed_during_its_revocations_is_finished_once(
    make_grant, live_charter, officer, monkeypatch, api_as, a_admin, a_principal
):
    needs_the_real_broker()
    purposes = (["benchmarking"], ["safety-evaluation"], ["benchmarking", "safety-evaluation"])
    for number in range(GRANTS):
        make_grant(purposes=purposes[number % 3], valid_until=timezone.now() + timedelta(days=30 + number))
    api_as(a_admin), api_as(a_principal)
    monkeypatch.setattr(exits, "_queue_run", lambda exit_: None)  # this test sends the task to its own queue
    exit_ = exits.exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.")

    def revoked():
        return Grant.objects.filter(charter=live_charter.charter, status="revoked").count()

    at_kill = kill_midway(exit_task.name, [exit_.pk], revoked, at_least=5)
    assert at_kill < GRANTS, "the run finished before the kill: nothing was tested"
    finish_with_a_new_worker(lambda: Exit.objects.get(pk=exit_.pk).status != Exit.Status.REVOKING)

    revocations = Event.objects.filter(action="grant.revoked")
    assert revocations.count() == GRANTS == len(set(revocations.values_list("target_id", flat=True)))
    assert Event.objects.filter(action="exit.revocations_done").count() == 1
    assert Event.objects.filter(action="api_token.narrowed").count() == 1
    assert Event.objects.filter(action="api_token.revoked").count() == 1
    assert Event.objects.filter(action="data_key.destruction_scheduled").count() == 0  # nothing was stored


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_destructions_killed_midway_are_finished_once_with_one_certificate_each(officer, partner_a, demo_registry):
    needs_the_real_broker()
    by = actor_for(officer)
    for number in range(KEYS):
        artefact = artefacts.artefact_store(
            source=io.BytesIO(f"delivery {number}".encode()),
            name=f"delivery-{number}.bin",
            kind="delivery",
            asset_version=demo_registry["atlas-7b 1.0"],
            partner=partner_a,
            by=by,
        )
        destruction_schedule(data_key=artefact.data_key, by=by, reason="Delivery no longer needed.")
    DataKey.objects.update(destroy_after=timezone.now() - timedelta(seconds=1))  # the grace period is over

    at_kill = kill_midway("governance.tasks.destructions_run", [], DestructionCertificate.objects.count, at_least=5)
    assert at_kill < KEYS, "the run finished before the kill: nothing was tested"
    finish_with_a_new_worker(lambda: not DataKey.objects.exclude(status=DataKey.Status.DESTROYED).exists())

    assert DestructionCertificate.objects.count() == KEYS
    destroyed = Event.objects.filter(action="data_key.destroyed")
    assert destroyed.count() == KEYS == len(set(destroyed.values_list("target_id", flat=True)))
    assert not DataKey.objects.filter(wrapped__isnull=False).exists()
