"""The Celery wiring: every beat schedule names a task a worker registers, and the tasks that retry share one
retry policy (accord/celery.py)."""

import inspect
import json

import pytest
from django.db import OperationalError
from django_celery_beat.models import PeriodicTask

from accord.celery import RetryingJob, RetryingTask, app

# What a task of ours may set about retrying on its own; the rest is the policy's.
OWN_RETRY_SETTINGS = {"retry_backoff", "retry_backoff_max", "retry_jitter", "retry_kwargs", "max_retries"}


@pytest.fixture(scope="module")
def registered():
    app.loader.import_default_modules()  # as a worker does when it starts: every installed app's tasks module
    return app.tasks


@pytest.fixture
def ours(registered):
    return {name: task for name, task in registered.items() if name.startswith(("audit.", "governance."))}


def test_every_beat_row_names_a_task_a_worker_registers_with_arguments_it_takes(db, registered):
    rows = list(PeriodicTask.objects.all())
    assert len(rows) >= 10  # the schedules the data migrations wrote
    for row in rows:
        assert row.task in registered, f"beat row {row.name!r} names {row.task!r}, which no worker registers"
        inspect.signature(registered[row.task].run).bind(*json.loads(row.args), **json.loads(row.kwargs))
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in registered, f"CELERY_BEAT_SCHEDULE {name!r} names {entry['task']!r}"


def test_every_task_that_retries_takes_the_one_policy_and_sets_nothing_of_it_itself(ours):
    retrying = {name: task for name, task in ours.items() if getattr(task, "autoretry_for", ())}
    assert len(retrying) >= 10
    for name, task in retrying.items():
        assert isinstance(task, RetryingTask), f"{name} retries by a policy of its own"
        assert not OWN_RETRY_SETTINGS & set(vars(type(task))), f"{name} sets its own retry settings"
    assert {name for name, task in retrying.items() if isinstance(task, RetryingJob)} == {
        "governance.tasks.exit_run",
        "governance.tasks.incident_run",
        "governance.tasks.outbox_send",
    }


def test_the_tasks_that_must_not_retry_do_not(ours):
    # A what-if run or an export that failed says so on its page; it is asked for again, not retried.
    for name in ("governance.tasks.whatif_run", "audit.tasks.audit_export"):
        assert not getattr(ours[name], "autoretry_for", ()) and not isinstance(ours[name], RetryingTask)


@pytest.mark.parametrize(("policy", "runs"), [(RetryingTask, 1 + 3), (RetryingJob, 1 + 5)])
def test_the_policy_retries_a_database_error_and_not_a_bug(policy, runs):
    calls = []

    def flaky(kind):
        calls.append(kind)
        raise OperationalError("server closed the connection") if kind == "database" else ValueError("a bug")

    task = app.task(base=policy, name=f"tests.flaky_{policy.__name__}", shared=False)(flaky)
    try:
        assert task.apply(args=["database"]).state == "FAILURE"  # apply(): in this process, retries included
        assert len(calls) == runs
        calls.clear()
        assert task.apply(args=["bug"]).state == "FAILURE" and len(calls) == 1
    finally:
        app.tasks.unregister(task.name)
    assert policy.retry_backoff is True
