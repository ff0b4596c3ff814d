"""The Celery application. Its settings are the CELERY_* names in accord/settings.py."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _bounded_database_waits() -> None:
    """Workers and beat never wait on a silent database for ever (accord/postgres/guard.py): one answer may take
    ACCORD_DB_TASK_TIMEOUT, and a database that cannot be reached fails tasks at once until it is back."""
    from django.conf import settings

    from accord.postgres import guard

    guard.install_from_settings(default_deadline=settings.ACCORD_DB_TASK_TIMEOUT)


@beat_init.connect
def _beat_waits_bounded(**_: Any) -> None:
    _bounded_database_waits()


@worker_process_init.connect
def _policy_in_each_worker_process(**_: Any) -> None:
    """Each worker process keeps its own policy snapshot current, as web workers do."""
    from governance.policy import live

    _bounded_database_waits()
    live.start()


@worker_init.connect
def _policy_in_a_worker_without_pool_processes(sender: Any = None, **_: Any) -> None:
    """With the solo or threads pool (`make run` uses solo) tasks run in the worker process itself: it keeps the
    policy there. (Prefork pool processes start their own, above.)"""
    _bounded_database_waits()
    if any(name in str(getattr(sender, "pool_cls", "")) for name in ("solo", "threads")):
        from governance.policy import live

        live.start()
