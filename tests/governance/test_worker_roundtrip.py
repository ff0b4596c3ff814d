"""A real Celery worker consumes the heartbeat from the real broker and writes to the database."""

from types import SimpleNamespace

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection

from accord.celery import _policy_in_worker_processes, app
from governance.models import WorkerHeartbeat
from governance.policy import live
from governance.tasks import worker_heartbeat
from tests.conftest import committing
from tests.helpers import wait_for


def roundtrip():
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
            worker_heartbeat.delay()
            assert wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=20.0), (
                "the worker did not run the heartbeat in time"
            )
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


def recording(function, name, calls):
    def recorded(*args, **kwargs):
        calls.append(name)
        return function(*args, **kwargs)

    return recorded


# PostgreSQL: the race is on a socket's descriptor, and SQLite's in-memory test database ignores close() anyway.
@pytest.mark.postgres
@committing
def test_the_thread_that_starts_the_policy_keeps_no_database_connection():
    # Celery's Django fixup closes each database socket of a new worker process by file descriptor, then closes the
    # connection again: had the starting thread kept one, the listener thread connecting in between could be handed
    # that descriptor and lose its socket ("Socket operation on non-socket").
    try:
        live.start()
        assert connection.connection is None
    finally:
        live.stop()


@pytest.mark.parametrize(("pool", "starts_at_worker_init"), [("threads", True), ("solo", False), ("prefork", False)])
def test_only_the_threads_pool_starts_the_policy_in_the_worker_itself(monkeypatch, pool, starts_at_worker_init):
    calls: list[str] = []
    monkeypatch.setattr(live, "start", lambda: calls.append("policy starts"))
    _policy_in_worker_processes(sender=SimpleNamespace(pool_cls=pool, app=app))
    assert calls == (["policy starts"] if starts_at_worker_init else [])
