"""Tasks queued by a transaction (audit/dispatch.py): kept with the transaction, sent once it commits, and sent
again by the sweeper when the broker did not take them. (The broker actually down, then back, is in
tests/e2e/test_dependency_faults.py.)"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit import dispatch
from audit.models import QueuedTask
from governance.tasks import whatif_run as TASK  # any task of one argument; nothing here runs it
from tests.conftest import committing
from tests.helpers import take_queued

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _empty_queue():
    take_queued(TASK.name)
    yield
    take_queued(TASK.name)  # so no later test's worker runs it


@committing  # outside the test's own transaction
def test_queueing_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        dispatch.task_queue(TASK, [1])


def test_a_job_whose_transaction_rolls_back_is_never_sent(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                dispatch.task_queue(TASK, [1])
                raise ValueError("the job's own write failed")
        except ValueError:
            pass
    assert callbacks == [] and not QueuedTask.objects.exists() and take_queued(TASK.name) == []


def test_a_committed_job_reaches_the_broker_and_leaves_nothing_behind(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        dispatch.task_queue(TASK, [7])
    assert take_queued(TASK.name) == [[7]] and not QueuedTask.objects.exists()


def test_a_job_is_kept_under_the_name_its_task_is_registered_by(db):
    with transaction.atomic():
        queued = dispatch.task_queue(TASK, [11])
    # The sweeper sends a row by this name, perhaps from a worker of a later release.
    assert QueuedTask.objects.get(pk=queued.pk).task == "governance.tasks.whatif_run"


def test_arguments_the_task_does_not_take_are_refused_in_the_transaction_that_queues_them(db):
    with pytest.raises(TypeError), transaction.atomic():
        dispatch.task_queue(TASK, [1, 2])
    assert not QueuedTask.objects.exists()


def test_the_sweeper_sends_what_the_broker_missed_once_and_leaves_young_rows_to_their_sender(db):
    missed = QueuedTask.objects.create(task=TASK.name, args=[8], created_at=timezone.now() - timedelta(minutes=5))
    young = QueuedTask.objects.create(task=TASK.name, args=[9])  # its own transaction's sender may be sending it now
    assert dispatch.queued_tasks_send() == 1
    assert dispatch.queued_tasks_send() == 0  # a second run sends nothing again
    assert take_queued(TASK.name) == [[8]]
    assert list(QueuedTask.objects.values_list("pk", flat=True)) == [young.pk] and missed.pk != young.pk
