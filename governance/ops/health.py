"""What /healthz reports: each dependency answers, or the reason it does not."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accord.celery import app as celery_app
from accord.postgres import guard
from audit.dispatch import queued_tasks_waiting
from audit.models import Checkpoint, Event
from governance.models import WorkerHeartbeat

# Beat schedules the heartbeat every 15 s: a worker silent for four periods is worth a warning.
HEARTBEAT_STALE_AFTER = timedelta(seconds=60)
CHECK_TIMEOUT_SECONDS = 2


@dataclass
class Check:
    ok: bool
    detail: str
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "detail": self.detail, **self.extra}
        if self.latency_ms is not None:
            body["latency_ms"] = round(self.latency_ms, 2)
        return body


def _safe_location(url: str) -> str:
    """host:port of a service URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _timed(probe: Callable[[], str], failure: str) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
    except Exception as error:  # a health check reports every failure; it must never raise one
        return Check(ok=False, detail=f"{failure}: {error.__class__.__name__}: {error}")
    return Check(ok=True, detail=detail, latency_ms=(time.perf_counter() - started) * 1000)


def check_database() -> Check:
    def probe() -> str:
        with guard.deadline(CHECK_TIMEOUT_SECONDS), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return f"{connection.vendor} answers"

    return _timed(probe, "The database did not answer")


def check_redis() -> Check:
    redis_url = settings.REDIS_URL
    if not redis_url:

        def fallback_probe() -> str:
            cache.set("accord:healthz", "ok", 30)
            if cache.get("accord:healthz") != "ok":
                raise RuntimeError("a value written to the cache did not read back")
            return "no REDIS_URL: the embedded file cache under var/ stands in for Redis"

        check = _timed(fallback_probe, "The embedded cache does not work")
        check.extra["mode"] = "embedded"
        return check

    location = _safe_location(redis_url)

    def probe() -> str:
        client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=CHECK_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
        return f"Redis at {location} answers"

    check = _timed(probe, f"Redis at {location} did not answer")
    check.extra["mode"] = "redis"
    return check


def check_broker() -> Check:
    broker_url = celery_app.conf.broker_url or ""
    embedded = broker_url.startswith("filesystem")
    where = (
        "the embedded filesystem broker under var/broker" if embedded else f"the broker at {_safe_location(broker_url)}"
    )

    def probe() -> str:
        with celery_app.connection_for_write(connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS)
        return f"{where} accepts connections"

    check = _timed(probe, f"Could not connect to {where}")
    check.extra["mode"] = "embedded" if embedded else "redis"
    return check


def worker_heartbeats() -> dict[str, Any]:
    """Information only: a missing worker is a warning, since web requests do not wait on workers."""
    try:
        with guard.deadline(CHECK_TIMEOUT_SECONDS):
            heartbeats = list(WorkerHeartbeat.objects.all())
    except Exception as error:
        return {"status": "warning", "detail": f"Heartbeats could not be read: {error}", "workers": []}
    now = timezone.now()
    workers = [
        {
            "hostname": beat.hostname,
            "last_seen_at": beat.last_seen_at.isoformat(),
            "seconds_ago": round((now - beat.last_seen_at).total_seconds(), 1),
            "alive": now - beat.last_seen_at <= HEARTBEAT_STALE_AFTER,
        }
        for beat in heartbeats
    ]
    alive = [worker for worker in workers if worker["alive"]]
    if alive:
        return {
            "status": "ok",
            "detail": f"{len(alive)} worker(s) ran the heartbeat in the last minute",
            "workers": workers,
        }
    return {
        "status": "warning",
        "detail": "No worker has run the heartbeat in the last minute: scheduled jobs are not running. "
        "Start a worker and beat (make run does both).",
        "workers": workers,
    }


# The sealer runs every 5 s (audit/migrations/0004): an event unsealed, or a checkpoint older, than this is a sign
# that it stopped.
SEALER_STALE_AFTER = timedelta(minutes=2)


def trail_health() -> dict[str, Any]:
    """Information only: how far the sealer is behind (the oldest event it has not sealed) and the last signed
    checkpoint's age. Two bounded queries (the unsealed events have an index of their own)."""
    try:
        with guard.deadline(CHECK_TIMEOUT_SECONDS):
            oldest = Event.objects.filter(chain_seq__isnull=True).order_by("id").values_list("occurred_at", flat=True)
            oldest_unsealed = oldest.first()
            last = Checkpoint.objects.order_by("-number").values_list("created_at", "chain_seq").first()
    except Exception as error:
        return {"status": "warning", "detail": f"The trail's state could not be read: {error}"}
    now = timezone.now()
    lag = (now - oldest_unsealed).total_seconds() if oldest_unsealed else 0.0
    age = (now - last[0]).total_seconds() if last else None
    stale = lag > SEALER_STALE_AFTER.total_seconds() or age is None or age > SEALER_STALE_AFTER.total_seconds()
    detail = (
        "The sealer is keeping up."
        if not stale
        else "The sealer is behind or stopped: events wait to be sealed and no recent checkpoint is signed. Check "
        "that a worker and beat run (make run starts both)."
    )
    return {
        "status": "warning" if stale else "ok",
        "detail": detail,
        "oldest_unsealed_seconds": round(lag, 1),
        "last_checkpoint_at": last[0].isoformat() if last else None,
        "last_checkpoint_seconds": round(age, 1) if age is not None else None,
        "sealed_up_to": last[1] if last else 0,
    }


def operations_health() -> dict[str, Any]:
    """What the officer's home and /healthz both show of the background work: the workers and the sealer."""
    return {"workers": worker_heartbeats(), "trail": trail_health()}


def _queued_tasks() -> dict[str, Any]:
    """Information only: jobs that committed while the broker was away, sent again every 10 s."""
    try:
        with guard.deadline(CHECK_TIMEOUT_SECONDS):
            waiting = queued_tasks_waiting()
    except Exception as error:
        return {"detail": f"Could not be counted: {error}"}
    waiting["detail"] = (
        "Every job has reached the broker."
        if not waiting["waiting"]
        else f"{waiting['waiting']} job(s) wait for the broker; they are sent every 10 s once it answers."
    )
    return waiting


def health_report() -> tuple[bool, dict[str, Any]]:
    checks = {"database": check_database(), "redis": check_redis()}
    if not checks["redis"].ok and settings.REDIS_URL and celery_app.conf.broker_url == settings.REDIS_URL:
        # The broker is that same Redis: asking it again would only wait out another timeout.
        checks["broker"] = Check(ok=False, detail="The broker is the Redis above, which did not answer.")
        checks["broker"].extra["mode"] = "redis"
    else:
        checks["broker"] = check_broker()
    healthy = all(check.ok for check in checks.values())
    background = (
        operations_health()
        if checks["database"].ok
        else {
            "workers": {
                "status": "warning",
                "detail": "Heartbeats are kept in the database, which did not answer.",
                "workers": [],
            },
            "trail": {"status": "warning", "detail": "The trail is kept in the database, which did not answer."},
        }
    )
    body: dict[str, Any] = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: check.as_json() for name, check in checks.items()},
        **background,
    }
    if checks["database"].ok:
        body["queued_tasks"] = _queued_tasks()
    if not healthy:
        body["reason"] = "; ".join(check.detail for check in checks.values() if not check.ok)
    return healthy, body
