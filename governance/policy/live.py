"""The snapshot this process decides from, kept current by a subscription and checked before every decision.

Two paths bring a change here. The fast one: the policy feed announces each committed change on a Redis channel,
and a listener thread in every web and worker process applies it at once (without Redis it polls the feed's head
every second instead). The backstop: ``current()`` compares the snapshot's version with the feed's head before
every decision and catches up first when they differ, so a lost announcement delays nothing.

Each listener also reports its process's version to Redis every few seconds (``policy status`` lists them), which
is how operators and the propagation benchmark see every process follow a change.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import close_old_connections, connection

from charters.services.policy_feed import Head, channel, policy_head
from governance.policy.bundle import forget_documents
from governance.policy.snapshot import Snapshot

logger = logging.getLogger(__name__)


def report_prefix() -> str:
    """Where each process reports its version (``policy status``), under the install's name."""
    return f"{settings.ACCORD_REDIS_PREFIX}policy:process:"


REPORT_SECONDS = 5
POLL_SECONDS = 1.0


@dataclass
class _Process:
    pid: int
    snapshot: Snapshot | None = None
    listener: Listener | None = None


_state = _Process(pid=os.getpid())
_loading = threading.Lock()


def _here() -> _Process:
    global _state
    if _state.pid != os.getpid():
        # A forked child inherits the parent's snapshot but not its listener thread: start afresh.
        _state = _Process(pid=os.getpid())
    return _state


def _load() -> Snapshot:
    forget_documents()  # a full load may follow a restored database, where version ids can mean other documents
    snapshot = Snapshot.load()
    # Long-lived structures out of the collector's sight: no collection pauses that scan them in the tail.
    gc.collect()
    gc.freeze()
    logger.info(
        "Policy loaded: %d grants at feed version %d in %.0f ms",
        len(snapshot.grants),
        snapshot.version.seq,
        snapshot.loaded_ms,
    )
    return snapshot


def _snapshot() -> Snapshot:
    state = _here()
    if state.snapshot is None:
        with _loading:
            if state.snapshot is None:
                state.snapshot = _load()
    return state.snapshot


def catch_up() -> Snapshot:
    """The process's snapshot, brought up to the feed's head (loaded again if the feed's history changed)."""
    state = _here()
    snapshot = _snapshot()
    if snapshot.catch_up().reloaded:
        logger.warning("The policy feed no longer holds version %d: loading the policy again", snapshot.version.seq)
        with _loading:
            if state.snapshot is snapshot:
                state.snapshot = _load()
    return state.snapshot or _snapshot()


def current(head: Head | None = None) -> Snapshot:
    """The snapshot to decide from: the feed's head compared with its version (``head`` when the caller read it
    already, or one query), and a catch-up only when they differ."""
    snapshot = _snapshot()
    if snapshot.is_current(head if head is not None else policy_head()):
        return snapshot
    return catch_up()


def forget() -> None:
    """Drop this process's snapshot (tests: every test database starts its own history)."""
    _here().snapshot = None


def start() -> None:
    """Load the snapshot and start the listener: called once in each web and worker process as it starts. A
    database that is not up yet is no reason not to start: the listener retries, and decisions load for
    themselves (or fail closed)."""
    state = _here()
    try:
        _snapshot()
    except Exception:
        logger.exception("The policy could not be loaded at start; the listener will retry")
    finally:
        # The starting thread keeps no connection: Celery closes a new worker process's connections by file
        # descriptor and then again by the driver, and the listener's socket may by then have taken that number.
        connection.close()
    if state.listener is None or not state.listener.is_alive():
        state.listener = Listener()
        state.listener.start()


def stop(*, wait_seconds: float = 5.0) -> None:
    """Stop the listener and wait for it to end (it wakes at least every second), so that no query of its runs
    after this returns."""
    state = _here()
    if state.listener is not None:
        state.listener.stop()
        state.listener.join(wait_seconds)
        state.listener = None


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Listener(threading.Thread):
    """Applies announced changes as they come; reconnects with a growing pause when Redis or the database
    is away (decisions meanwhile still catch up for themselves)."""

    def __init__(self) -> None:
        super().__init__(name="accord-policy-listener", daemon=True)
        self._stopping = threading.Event()
        self._reported_at = 0.0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        pause = 0.5
        while not self._stopping.is_set():
            try:
                if settings.REDIS_URL:
                    self._listen(settings.REDIS_URL)
                else:
                    self._poll()
                pause = 0.5
            except Exception:
                logger.exception("Policy listener failed; retrying in %.1f s", pause)
                connection.close()
                self._stopping.wait(pause)
                pause = min(pause * 2, 10.0)
        connection.close()

    def _apply(self) -> None:
        close_old_connections()
        catch_up()
        self._report(force=True)

    def _listen(self, url: str) -> None:
        pubsub = _redis(url).pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(channel())
            # Anything announced before the subscription took hold would be missed: catch up once now.
            self._apply()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._apply()
                self._report()
        finally:
            pubsub.close()

    def _poll(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            close_old_connections()
            snapshot = _snapshot()
            if not snapshot.is_current(policy_head()):
                self._apply()

    def _report(self, *, force: bool = False) -> None:
        if not settings.REDIS_URL or (not force and time.monotonic() - self._reported_at < REPORT_SECONDS):
            return
        snapshot = _snapshot()
        report = {
            "version": snapshot.version.seq,
            "bundle": snapshot.bundle_hash,
            "grants": len(snapshot.grants),
            "loaded_ms": round(snapshot.loaded_ms, 1),
            "reported_at": time.time(),
        }
        _redis(settings.REDIS_URL).set(report_prefix() + process_name(), json.dumps(report), ex=3 * REPORT_SECONDS)
        self._reported_at = time.monotonic()


def process_reports() -> dict[str, dict[str, object]]:
    """What each live process last reported, by ``host:pid``; empty without Redis."""
    if not settings.REDIS_URL:
        return {}
    client = _redis(settings.REDIS_URL)
    prefix = report_prefix()
    keys = sorted(client.scan_iter(prefix + "*"))
    values = client.mget(keys) if keys else []
    return {key.decode()[len(prefix) :]: json.loads(value) for key, value in zip(keys, values, strict=True) if value}
