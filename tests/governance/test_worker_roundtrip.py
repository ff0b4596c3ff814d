"""A real Celery worker consumes the heartbeat from the real broker and writes to the database."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from accord.celery import app
from governance.models import WorkerHeartbeat
from governance.policy import live
from governance.tasks import worker_heartbeat
from tests.conftest import committing


def wait_for(predicate, *, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def roundtrip():
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
            worker_heartbeat.delay()
            assert wait_for(lambda: WorkerHeartbeat.objects.exists()), "the worker did not run the heartbeat in time"
    finally:
        live.stop()  # the worker started this process's policy listener (accord/celery.py); it must not outlive it
    return WorkerHeartbeat.objects.get()


@committing
def test_a_worker_runs_a_task_sent_through_the_configured_broker():
    heartbeat = roundtrip()
    assert heartbeat.beats == 1


@pytest.mark.redis
@committing
def test_the_broker_is_redis_when_redis_url_is_set():
    assert app.conf.broker_url.startswith("redis://")
    assert roundtrip().beats == 1
