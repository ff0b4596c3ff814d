"""The Celery application. Its settings are the CELERY_* names in accord/settings.py."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _policy_in_each_worker_process(**_: Any) -> None:
    """Each worker process keeps its own policy snapshot current, as web workers do."""
    from governance.policy import live

    live.start()
