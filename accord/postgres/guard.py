"""Bounded waits on PostgreSQL: a database that refuses, or accepts and never answers, costs a request seconds.
Nothing else would bound it: a gthread worker's request thread waiting on the database is never killed.

libpq's ``connect_timeout`` covers a connection that is being made; nothing in libpq bounds a query on a
connection whose server has stopped answering (a paused or wedged server: the kernel still acknowledges every
packet, so TCP keepalives and ``tcp_user_timeout`` see nothing wrong). psycopg2 lets a program wait for libpq
itself (``set_wait_callback``, the hook coroutine libraries use); :func:`wait` waits in short slices and gives up
after the deadline of the moment:

- while connecting, ``ACCORD_DB_CONNECT_TIMEOUT``;
- otherwise the calling thread's deadline (:func:`deadline`: a web request sets one, the decision point a shorter
  one), or the process's default (web and worker processes set one at start).

The server is asked to cancel a statement at the process's default deadline too (``statement_timeout``), so a
query given up on does not run on. A connection that could not be made opens the process's :class:`Breaker`: for
``ACCORD_DB_RETRY_SECONDS`` every new connection, and every wait in progress, fails at once, so the other threads
of the process answer "database unavailable" instead of each waiting out its own timeout. Then one caller at a
time tries again.

Only the processes that serve (web and workers, see :func:`install`) wait this way; management commands keep
psycopg2's plain blocking mode, in which COPY works (the benchmarks load trails with it).
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg2  # type: ignore[import-untyped]
from psycopg2 import extensions

from accord.breaker import Breaker

SLICE_SECONDS = 0.25
_EVENTS = {extensions.POLL_READ: select.POLLIN, extensions.POLL_WRITE: select.POLLOUT}


class Unreachable(psycopg2.OperationalError):
    """The database is not answering; Django hands it on as ``django.db.OperationalError``."""


class _Settings:
    connect_timeout: float = 3.0
    default_deadline: float | None = None
    installed = False


_settings = _Settings()
breaker = Breaker("database", retry_seconds=5.0, error=Unreachable)
_local = threading.local()


def install(*, connect_timeout: float, retry_seconds: float, default_deadline: float | None) -> None:
    """Wait through :func:`wait` in this process from now on (connections made before keep blocking)."""
    _settings.connect_timeout = connect_timeout
    _settings.default_deadline = default_deadline
    breaker.retry_seconds = retry_seconds
    if not _settings.installed:
        extensions.set_wait_callback(wait)
        _settings.installed = True


def statement_timeout() -> float | None:
    """Seconds after which the server should cancel a statement of this process: its default deadline, once the
    guard is installed (None in management commands, whose migrations may rightly run long)."""
    return _settings.default_deadline if _settings.installed else None


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """The longest this thread waits for one answer of the database inside the block (None: the process's
    default). An inner block may only shorten the deadline of an outer one."""
    outer = getattr(_local, "deadline", None)
    if seconds is not None and outer is not None:
        seconds = min(seconds, outer)
    _local.deadline = seconds if seconds is not None else outer
    try:
        yield
    finally:
        _local.deadline = outer


def _current_deadline() -> float | None:
    if getattr(_local, "connecting", False):
        return _settings.connect_timeout
    own = getattr(_local, "deadline", None)
    return own if own is not None else _settings.default_deadline


@contextlib.contextmanager
def connecting() -> Iterator[None]:
    """Marks the waits of a connection being made, which get the connect timeout and feed the breaker."""
    breaker.admit(_settings.connect_timeout)
    _local.connecting = True
    try:
        yield
    except psycopg2.Error as error:
        breaker.failed(_first_line(error))
        raise
    else:
        breaker.succeeded()
    finally:
        _local.connecting = False


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0][:200]


class GuardedConnection(extensions.connection):
    """A psycopg2 connection that remembers being given up on: it is never waited on again."""

    abandoned = False


def wait(conn: Any) -> None:
    """psycopg2's wait callback: poll libpq until it is done, in slices, within the deadline."""
    if getattr(conn, "abandoned", False):
        raise Unreachable("This database connection stopped answering earlier and was given up.")
    limit = _current_deadline()
    started = time.monotonic()
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state not in _EVENTS:
            raise psycopg2.OperationalError(f"Unexpected state from the database driver: {state!r}.")
        # poll(), not select(): a busy web worker can hold more than select()'s 1,024 file descriptors.
        poller = select.poll()
        poller.register(conn.fileno(), _EVENTS[state])
        if poller.poll(SLICE_SECONDS * 1000):
            continue
        waited = time.monotonic() - started
        if not getattr(_local, "connecting", False) and breaker.is_open():
            # Another thread of this process found the database gone: stop waiting for an answer that will not
            # come (this connection is not used again).
            _abandon(conn)
            raise Unreachable(breaker.message())
        if limit is not None and waited >= limit:
            _abandon(conn)
            raise Unreachable(f"The database did not answer within {limit:g} s.")


def _abandon(conn: Any) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        conn.abandoned = True


def install_from_settings(*, default_deadline: float | None) -> None:
    """install() with the ACCORD_DB_* settings: what the web and worker processes call as they start."""
    from django.conf import settings

    install(
        connect_timeout=settings.ACCORD_DB_CONNECT_TIMEOUT,
        retry_seconds=settings.ACCORD_DB_RETRY_SECONDS,
        default_deadline=default_deadline,
    )
