"""What one slow client may take from the web server: a thread for a bounded time, never a worker.

gunicorn's gthread worker gives a thread to a connection as soon as its first bytes arrive, and the thread then
reads the headers and, through Django, the body, blocking for as long as the client takes. A client that
announces ``Content-Length: 1000`` and sends ten bytes held its thread until it hung up, and a worker whose
threads were all held still accepted connections and queued them behind the held ones (issue 17). Two parts:

- ``RequestBodyDeadline`` (WSGI, wrapped around Django in accord/wsgi.py) reads each request body in full
  before Django runs, within a deadline. A body that does not arrive in time is answered 408, in the API's error
  shape under /api/ and as plain text elsewhere, and its thread is free again. The app then only ever sees a
  whole body, and a chunked body (no Content-Length) is read too: Django alone reads it as empty.
- ``ThreadWorker`` (gunicorn_conf.worker_class) is gthread, except that a worker whose threads are all taken
  stops accepting connections until one is free, so a new request goes to a worker that can serve it (or waits
  in the kernel's backlog for the first free thread) instead of queueing behind held threads.

Together they bound what a slow client costs; they do not make it free. More slow clients than the server has
threads still delay everyone by up to the deadline, and headers that trickle in hold a thread inside gunicorn,
before any of this runs. A proxy that buffers whole requests before passing them on (deploy/nginx/, run by
docker-compose.yml) keeps slow clients off gunicorn's threads entirely, as gunicorn's documentation advises.
"""

from __future__ import annotations

import heapq
import itertools
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from gunicorn.http.errors import ParseException  # type: ignore[import-untyped]
from gunicorn.workers import gthread  # type: ignore[import-untyped]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Past the first ``timeout`` seconds, a body must keep arriving at least this fast: a browser or a gateway sends
# one in milliseconds, an artefact upload at a sane rate is never cut, and a client that trickles a byte a second
# is. Every byte that arrives buys 1/MIN_BYTES_PER_SECOND more seconds.
MIN_BYTES_PER_SECOND = 64 * 1024
# How much is read per call: the deadline is moved on after each, so this is also how often it is.
READ_STEP = 64 * 1024


class _Watch:
    """One body being read: its socket, when it is late, and whether it was cut for that."""

    __slots__ = ("cut", "deadline", "done", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock: socket.socket | None = sock
        self.deadline = deadline
        self.done = False
        self.cut = False


class _Watchdog:
    """One thread per process that cuts the read side of a connection whose body is late.

    A thread blocked in ``recv()`` cannot be given a deadline from outside, and a socket timeout only bounds
    each ``recv()``, which a client sending a byte every second renews for ever. Shutting the read side down
    makes the blocked ``recv()`` return at once with nothing, which gunicorn reads as the end of the body.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> _Watch:
        watch = _Watch(sock, deadline)
        with self._lock:
            if self._thread is None:  # started by the first body in each worker process, never at import
                self._thread = threading.Thread(target=self._run, name="request-body-deadline", daemon=True)
                self._thread.start()
            first = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if first:
                self._lock.notify()
        return watch

    def release(self, watch: _Watch) -> bool:
        """Stop watching; whether the connection was cut meanwhile."""
        with self._lock:
            watch.done, watch.sock = True, None
            return watch.cut

    def _run(self) -> None:
        with self._lock:
            while True:
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, _, watch = self._heap[0]
                if watch.done:
                    heapq.heappop(self._heap)
                elif watch.deadline > deadline:  # bytes arrived meanwhile and moved the deadline on
                    heapq.heapreplace(self._heap, (watch.deadline, next(self._order), watch))
                elif deadline > (now := time.monotonic()):
                    self._lock.wait(deadline - now)
                else:
                    heapq.heappop(self._heap)
                    watch.cut = True
                    try:
                        if watch.sock is not None:
                            watch.sock.shutdown(socket.SHUT_RD)
                    except OSError:
                        pass  # the client went away by itself


_watchdog = _Watchdog()


class _Closing:
    """The app's response, closing the buffered body after it."""

    def __init__(self, response: Iterable[bytes], body: IO[bytes]) -> None:
        self._response, self._body = response, body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._response)

    def close(self) -> None:
        try:
            close = getattr(self._response, "close", None)
            if close is not None:
                close()
        finally:
            self._body.close()


class RequestBodyDeadline:
    """Reads every request body before the app runs, within ``timeout`` seconds (plus a second for every
    MIN_BYTES_PER_SECOND bytes that arrive, and never more than ``timeout`` without a byte).

    - A body that has not arrived by then: 408, and the connection is not reused.
    - A chunked body (Transfer-Encoding: chunked, no Content-Length) is read and handed to Django with the
      CONTENT_LENGTH it lacked. At most ``max_buffered`` + 1 bytes of it are read, so that Django refuses a
      larger one exactly as it refuses a Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE.
    - A body with a Content-Length over ``max_buffered`` is read only that far too (a multipart upload, whose
      files Django does not count against that limit, is read whole): Django refuses it from its length.
    - A malformed chunked body, or a client that hangs up early: 400.

    Bodies are held in memory up to ``spool_bytes`` and in a temporary file (in ``spool_dir``) beyond it, as
    Django holds uploads. Outside gunicorn (``manage.py runserver``), requests pass through untouched.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        timeout: float,
        max_buffered: int,
        spool_bytes: int,
        spool_dir: str | None = None,
    ) -> None:
        self.app, self.timeout, self.max_buffered = app, timeout, max_buffered
        self.spool_bytes, self.spool_dir = spool_bytes, spool_dir

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        length = _content_length(environ)
        chunked = length is None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        # Under HTTP/2 (off in gunicorn_conf) one socket carries many requests: cutting it would end them all.
        if not isinstance(sock, socket.socket) or not (chunked or length) or environ.get("HTTP_VERSION") == "2":
            return self.app(environ, start_response)

        if length is None:  # chunked
            wanted = self.max_buffered + 1
        elif environ.get("CONTENT_TYPE", "").startswith("multipart/"):
            wanted = length
        else:
            wanted = min(length, self.max_buffered + 1)
        # Closed after the response (_Closing), or below when the body is refused.
        body = tempfile.SpooledTemporaryFile(max_size=self.spool_bytes, dir=self.spool_dir)  # noqa: SIM115
        try:
            received, ended, failure, cut = self._read(environ["wsgi.input"], sock, body, wanted)
        except BaseException:
            body.close()
            raise
        # A chunked body ends where its last chunk says; one with a Content-Length when it has that many bytes.
        # The watchdog may cut a body just after its last byte arrived: a whole body is served all the same.
        if not (received == wanted or (chunked and ended and failure is None)):
            body.close()
            if cut:
                return _refuse(environ, start_response, 408, "request_timeout", self._late_message())
            if failure is not None and chunked:
                message = f"The chunked request body is malformed ({failure}). Send the body with a Content-Length."
            else:
                message = "The request body is shorter than its Content-Length: the connection closed before it ended."
            return _refuse(environ, start_response, 400, "incomplete_body", message)

        body.seek(0)
        environ["wsgi.input"] = body
        if chunked:
            environ["CONTENT_LENGTH"] = str(received)
        return _Closing(self.app(environ, start_response), body)

    def _read(
        self, stream: Any, sock: socket.socket, body: IO[bytes], wanted: int
    ) -> tuple[int, bool, Exception | None, bool]:
        """Up to ``wanted`` bytes of ``stream`` into ``body``: (how many, whether the stream ended before them,
        the error that stopped it, whether the watchdog cut the connection)."""
        started = time.monotonic()
        watch = _watchdog.watch(sock, started + self.timeout)
        received, ended, failure = 0, False, None
        try:
            while received < wanted:
                data = stream.read(min(READ_STEP, wanted - received))
                if not data:
                    ended = True
                    break
                body.write(data)
                received += len(data)
                watch.deadline = min(
                    started + self.timeout + received / MIN_BYTES_PER_SECOND, time.monotonic() + self.timeout
                )
        except (OSError, ParseException) as error:  # gunicorn's own errors for a malformed chunk or trailer
            failure = error
        finally:
            cut = _watchdog.release(watch)
        return received, ended, failure, cut

    def _late_message(self) -> str:
        return (
            f"The request body did not arrive in time (within {self.timeout:g} s, at a rate of at least "
            f"{MIN_BYTES_PER_SECOND // 1024} KiB/s). Send the whole body right after the headers."
        )


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ["CONTENT_LENGTH"])
    except (KeyError, ValueError):  # gunicorn refuses a malformed Content-Length before the app runs
        return None


def _refuse(
    environ: dict[str, Any], start_response: StartResponse, status: int, code: str, message: str
) -> Iterable[bytes]:
    reason = {400: "Bad Request", 408: "Request Timeout"}[status]
    if environ.get("PATH_INFO", "").startswith("/api/"):
        from accord.api_errors import error_body  # Django's modules load after the app, not with this one

        content, content_type = json.dumps(error_body(code, message)).encode(), "application/json"
    else:
        content, content_type = f"{status} {reason}\n\n{message}\n".encode(), "text/plain; charset=utf-8"
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(content)))])
    # The connection is not reused: where the next request would start is unknown. gunicorn drops a Connection
    # header that comes from the app (it is hop-by-hop) and decides itself, so its response object, whose method
    # start_response is, is told; then the answer says "Connection: close" too.
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()
    return [content]


class ThreadWorker(gthread.ThreadWorker):
    """gthread, except that a worker whose threads are all taken stops accepting connections until one is free.

    gthread accepts every connection it can hold (worker_connections, 1,000) and queues it for its thread pool,
    so with its threads held by slow clients it kept taking requests it could not serve while the next worker
    had idle threads. Counting what is in the pool is done on the worker's main thread, where gthread queues
    (enqueue_req) and finishes (finish_request) every request, so it needs no lock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests_in_pool = 0

    def enqueue_req(self, conn: Any) -> None:
        self.requests_in_pool += 1
        super().enqueue_req(conn)
        self._accept_if_a_thread_is_free()

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.requests_in_pool -= 1
        super().finish_request(conn, fs)  # may queue the connection's next request at once
        self._accept_if_a_thread_is_free()

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's main loop turns accepting back on whenever it has room for connections: not while busy.
        super().set_accept_enabled(enabled and self.requests_in_pool < self.cfg.threads)

    def _accept_if_a_thread_is_free(self) -> None:
        if self.alive:  # a stopping worker has stopped accepting for good
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
