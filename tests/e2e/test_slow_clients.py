"""The web server as deployed, with clients that send their body slowly, never finish it, send it chunked, or
send requests gunicorn refuses before Django sees them (issue 17).

Slow clients are raw sockets, so the test controls every byte. Deadlines are generous liveness bounds for a
loaded 2-core machine; PROMPT is what a request that waits behind nobody takes, with room to spare, and is far
below the body deadline (ACCORD_WEB_BODY_TIMEOUT, 10 s), so an answer within it did not wait for a slow client
to be cut off.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import committing
from tests.processes import WebServer, web_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis, committing]

BODY_TIMEOUT = 10.0  # ACCORD_WEB_BODY_TIMEOUT's default, which these servers run with
PROMPT = 5.0
LIVENESS = 20.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.body[:300])
        return json.loads(self.body)


def read_answer(sock: socket.socket, *, started: float, timeout: float) -> Answer | None:
    """The first response on ``sock``, or None if none came within ``timeout`` (or the server hung up)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        while (
            (b"\r\n0\r\n\r\n" not in b"\r\n" + body) if chunked else len(body) < int(headers.get("content-length", 0))
        ):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        if chunked:
            body = dechunk(body)
    except OSError:  # timed out, reset, or closed by the test meanwhile
        return None
    return Answer(int(lines[0].split()[1]), headers, body, time.monotonic() - started)


def dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


def exchange(server: WebServer, raw: bytes, *, timeout: float = LIVENESS) -> Answer:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        answer = read_answer(sock, started=started, timeout=timeout)
    assert answer is not None, f"no answer within {timeout} s to {raw[:80]!r}"
    return answer


def request(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
    keep_alive: bool = False,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + ([] if keep_alive else ["Connection: close"])
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body and not any(name.lower() == "transfer-encoding" for name in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def decision_body(asset: str) -> bytes:
    return json.dumps({"action": "infer", "asset": asset, "purpose": "benchmarking"}).encode()


def decide(server: WebServer, token: str, asset: str) -> Answer:
    return exchange(
        server,
        request(
            "POST",
            "/api/v1/decisions",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            body=decision_body(asset),
        ),
    )


def healthz(server: WebServer) -> Answer:
    return exchange(server, request("GET", "/healthz"))


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def chunked_decision(world: dict[str, Any], body: bytes) -> bytes:
    """A decision request whose body (already chunk-encoded) comes with Transfer-Encoding: chunked."""
    headers = {
        "Authorization": f"Bearer {world['token']}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    return request("POST", "/api/v1/decisions", headers=headers, body=body)


@dataclass
class SlowClient:
    """A request whose headers arrive at once and whose body never does: ``truncated`` sends 10 of the 1,000
    bytes it announces and falls silent, ``trickle`` sends one byte a second. Reads the answer in the background."""

    server: WebServer
    path: str
    kind: str
    headers: dict[str, str] = field(default_factory=dict)
    answer: Answer | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SlowClient:
        self.sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=LIVENESS)
        head = request("POST", self.path, headers={**self.headers, "Content-Length": "1000"}, keep_alive=True)
        self.started = time.monotonic()
        self.sock.sendall(head + b'{"action":')
        threading.Thread(target=self._talk, daemon=True).start()
        return self

    def _talk(self) -> None:
        if self.kind == "trickle":
            threading.Thread(target=self._trickle, daemon=True).start()
        self.answer = read_answer(self.sock, started=self.started, timeout=2 * BODY_TIMEOUT + LIVENESS)
        self.done.set()

    def _trickle(self) -> None:
        while not self.done.wait(1.0):
            try:
                self.sock.send(b" ")
            except OSError:
                return

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@contextlib.contextmanager
def slow_clients(server: WebServer, *specs: tuple[str, str, dict[str, str]]) -> Iterator[list[SlowClient]]:
    clients = [SlowClient(server, path, kind, headers).start() for path, kind, headers in specs]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def unanswered(clients: list[SlowClient]) -> list[SlowClient]:
    return [client for client in clients if not client.done.is_set()]


@pytest.fixture
def world(make_grant, api_as, a_principal, atlas):
    make_grant()
    return {"token": api_as(a_principal).token, "asset": atlas}


def api_client(world: dict[str, str], kind: str) -> tuple[str, str, dict[str, str]]:
    return (
        "/api/v1/decisions",
        kind,
        {"Authorization": f"Bearer {world['token']}", "Content-Type": "application/json"},
    )


# A form post with a CSRF cookie and no token header: Django's CSRF check reads the body for the form's token.
PAGE_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + "a" * 32}


def hung_up(sock: socket.socket) -> bool:
    """Whether the server closes the connection (a byte the trickler sent after may make it a reset)."""
    sock.settimeout(LIVENESS)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def assert_408(client: SlowClient, *, within: float = BODY_TIMEOUT + LIVENESS) -> None:
    client.done.wait(within)
    answer = client.answer
    assert answer is not None, f"{client.kind} {client.path}: no answer within {within} s"
    assert answer.status == 408, (answer.status, answer.body[:300])
    assert answer.seconds < within
    assert answer.headers["connection"] == "close"
    assert hung_up(client.sock), "the connection stays open after the 408"
    if client.path.startswith("/api/"):
        error = answer.json()["error"]
        assert error["code"] == "request_timeout" and "did not arrive" in error["message"], error
        assert error["fields"] == {}
    else:
        assert answer.headers["content-type"].startswith("text/plain") and b"did not arrive" in answer.body


def test_slow_and_truncated_bodies_get_a_408_while_healthz_and_decisions_keep_answering(world):
    with web_server() as server:  # 2 workers x 4 threads, as deployed
        specs = [api_client(world, "truncated")] * 3 + [api_client(world, "trickle")] * 2
        specs += [("/login/", "truncated", PAGE_HEADERS)]
        with slow_clients(server, *specs) as clients:  # six: more than one worker's threads
            health = healthz(server)
            assert health.status == 200 and health.seconds < PROMPT, health
            decision = decide(server, world["token"], world["asset"])
            assert decision.status == 200 and decision.json()["allow"] is True and decision.seconds < PROMPT
            assert len(unanswered(clients)) == len(clients), "the slow clients were answered before they were slow"

            for client in clients:
                assert_408(client)
                assert client.answer is not None and client.answer.seconds >= BODY_TIMEOUT - 1
            assert healthz(server).status == 200


def test_with_more_slow_clients_than_threads_healthz_waits_at_most_for_the_body_deadline(world):
    with web_server() as server, slow_clients(server, *[api_client(world, "truncated")] * 10) as clients:
        # The server has 8 threads: two slow clients wait for one, and healthz may wait behind them.
        health = healthz(server)
        assert health.status == 200 and health.seconds < BODY_TIMEOUT + LIVENESS, health
        for client in clients:
            assert_408(client, within=2 * BODY_TIMEOUT + LIVENESS)  # the last two waited for a thread first


def test_a_worker_whose_threads_are_all_held_leaves_new_connections_to_the_next(world):
    # Two workers of one thread each. Each connection may go to either worker; the one whose thread the slow
    # client holds must take none of them.
    with web_server(ACCORD_WEB_THREADS="1") as server, slow_clients(server, api_client(world, "truncated")) as held:
        answers = [healthz(server) for _ in range(8)]
        assert [answer.status for answer in answers] == [200] * 8
        assert max(answer.seconds for answer in answers) < PROMPT, [answer.seconds for answer in answers]
        assert unanswered(held) == held


def test_a_body_that_arrives_in_time_is_served(world):
    """A body sent in pieces, well within the deadline, is read whole: a request is not a slow client because
    its body comes after its headers."""
    with web_server() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        body = decision_body(world["asset"])
        headers = {"Authorization": f"Bearer {world['token']}", "Content-Type": "application/json"}
        started = time.monotonic()
        sock.sendall(request("POST", "/api/v1/decisions", headers={**headers, "Content-Length": str(len(body))}))
        for piece in (body[:10], body[10:20], body[20:]):
            time.sleep(0.5)  # the pauses are the point of this test: the body arrives in three pieces
            sock.sendall(piece)
        answer = read_answer(sock, started=started, timeout=LIVENESS)
        assert answer is not None and answer.status == 200 and answer.json()["allow"] is True


def test_a_chunked_decision_request_is_read(world):
    with web_server() as server:
        body = decision_body(world["asset"])
        answer = exchange(server, chunked_decision(world, chunked(body[:7], body[7:])))
        assert answer.status == 200, answer.body[:300]
        assert answer.json()["allow"] is True


def test_a_chunked_body_over_the_limit_is_refused_like_one_with_a_content_length(world, settings):
    with web_server() as server:
        piece = b" " * 65536
        pieces = [piece] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len(piece) + 1)
        answer = exchange(server, chunked_decision(world, chunked(*pieces)))
        assert answer.status == 400
        error = answer.json()["error"]
        assert (
            error["code"] == "request_too_large"
            and f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in error["message"]
        ), error


def test_a_malformed_chunked_body_is_a_400_in_the_error_shape(world):
    with web_server() as server:
        answer = exchange(server, chunked_decision(world, b"zz\r\n{}\r\n0\r\n\r\n"))
        assert answer.status == 400
        error = answer.json()["error"]
        assert error["code"] == "incomplete_body" and "chunked" in error["message"], error


# --- What gunicorn answers before Django -------------------------------------------------------------------


def test_a_long_url_under_the_api_reaches_django_and_is_answered_in_the_error_shape():
    with web_server() as server:
        answer = exchange(server, request("GET", "/api/v1/" + "x" * 5000))
        assert answer.status == 404
        assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (request("GET", "/api/v1/" + "x" * 8200), 414),  # over limit_request_line (8190)
        (request("GET", "/api/v1/grants", headers={"X-Big": "x" * 9000}), 431),  # over limit_request_field_size
        (request("GET", "/api/v1/grants", headers={f"X-Header-{n}": "1" for n in range(60)}), 431),  # over 50
        (b"GET /api/v1/grants HTTP/1.1 and more\r\nHost: 127.0.0.1\r\n\r\n", 400),  # not an HTTP request line
    ],
    ids=["request-line-over-8190", "header-over-8190", "more-than-50-headers", "malformed-request-line"],
)
def test_requests_over_gunicorns_limits_get_gunicorns_own_short_html_answer(raw, status):
    """The documented exception (docs/integration-guide.md): these never reach Django, even under /api/."""
    with web_server() as server:
        answer = exchange(server, raw)
        assert answer.status == status, (answer.status, answer.body[:300])
        assert answer.headers["content-type"].startswith("text/html")


def test_a_host_not_in_allowed_hosts_is_a_json_400_under_the_api():
    with web_server() as server:
        answer = exchange(server, request("GET", "/api/v1/grants", host="evil.example"))
        assert answer.status == 400
        assert answer.json()["error"]["code"] == "disallowed_host"
        assert "DJANGO_ALLOWED_HOSTS" in answer.json()["error"]["message"]
