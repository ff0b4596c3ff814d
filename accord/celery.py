"""The Celery application and the retry policy of its tasks. Its settings are the CELERY_* names in
accord/settings.py."""

import os
from typing import Any

from celery import Celery, Task
from celery.concurrency import get_implementation
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.signals import beat_init, worker_init, worker_process_init
from django.db import DatabaseError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class RetryingTask(Task):
    """The retry policy of every task that retries (``@shared_task(base=RetryingTask)``): a database error (a
    dropped connection, a deadlock, a statement past its deadline) is retried three times, backing off
    exponentially with jitter (about 1, 2 and 4 seconds). Every task is idempotent, so a retry finishes what the
    failed run left and repeats nothing. A task that retries on more says so, and why, where it is defined."""

    autoretry_for: tuple[type[BaseException], ...] = (DatabaseError,)
    retry_backoff = True
    max_retries = 3


class RetryingJob(RetryingTask):
    """The policy for a task queued for one job (an incident's run, an exit's, the mail just written): two more
    tries, since the scheduled run that picks up what a failed job left comes only later."""

    max_retries = 5


def _bounded_database_waits() -> None:
    """Workers and beat never wait on a silent database for ever (accord/postgres/guard.py): one answer may take
    ACCORD_DB_TASK_TIMEOUT, and a database that cannot be reached fails tasks at once until it is back."""
    from django.conf import settings

    from accord.postgres import guard

    guard.install_from_settings(default_deadline=settings.ACCORD_DB_TASK_TIMEOUT)


@beat_init.connect
def _beat_waits_bounded(**_: Any) -> None:
    _bounded_database_waits()


def _policy_in_each_worker_process(**_: Any) -> None:
    """Each process that runs tasks keeps its own policy snapshot current, as web workers do."""
    from governance.policy import live

    live.start()


@worker_init.connect
def _policy_in_worker_processes(sender: Any = None, **_: Any) -> None:
    """The threads pool runs tasks in the worker process itself, which starts its policy now. The prefork and solo
    pools announce each process that runs tasks with ``worker_process_init``, and its receivers include Celery's
    Django fixup, which closes the database sockets the process holds by file descriptor and then closes the
    connections again: a connection opened in another thread between the two would lose its socket. So the policy
    listener starts from a receiver connected here, after the fixup connected its own (in its ``worker_init``
    receiver, which Celery connected when the app was made), and therefore called after it."""
    _bounded_database_waits()
    if issubclass(get_implementation(getattr(sender, "pool_cls", None) or "prefork"), ThreadPool):
        _policy_in_each_worker_process()
    else:
        worker_process_init.connect(_policy_in_each_worker_process, dispatch_uid="accord-policy-in-worker-process")
