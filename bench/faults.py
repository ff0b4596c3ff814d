"""The fault table: what decisions, other API calls, pages and /healthz answer, and how fast, while PostgreSQL or
Redis refuses, stays silent, or goes quiet mid-conversation (loopback peers, tests/faults.py; the machine's own
services keep running).

    .venv/bin/python bench/faults.py [--database-url postgres://postgres@127.0.0.1:5432/accord_bench_faults]

It migrates and seeds a scratch database (created when missing; never point it at a real one), uses Redis
database 10, and starts the web server as deployed (one worker) once per fault. For each call it prints the
status of the first answer and its time, then the median of five more: the first pays for finding the fault
out (a connect timeout), the rest show what the circuit breaker saves.
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_decisions import free_port, say  # noqa: E402
from bench.scratch import seeded_scratch  # noqa: E402
from tests.faults import LoopbackPeer  # noqa: E402

PYTHON = sys.executable
TIMEOUT = 60.0


def call(port: int, path: str, *, token: str = "", body: object = None, cookie: str = "") -> tuple[str, float]:
    """The answer's status (and a deny's code) and the seconds it took."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=None if body is None else json.dumps(body).encode(), headers=headers
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (loopback)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError as error:
        return f"no answer ({error.__class__.__name__})", time.perf_counter() - started
    elapsed = time.perf_counter() - started
    if path.startswith("/api/v1/decisions") and status == 200:
        answer = json.loads(raw)
        return ("200 allow" if answer["allow"] else f"200 deny {answer['reasons'][0]['code']}"), elapsed
    return str(status), elapsed


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def measure(probe: Callable[[], tuple[str, float]]) -> str:
    first, first_time = probe()
    rest = [probe() for _ in range(5)]
    statuses = {first} | {status for status, _ in rest}
    shown = first if len(statuses) == 1 else " / ".join(sorted(statuses))
    return f"{shown}: {first_time * 1000:,.0f} ms, then {statistics.median(t for _, t in rest) * 1000:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/accord_bench_faults")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    options = parser.parse_args()

    database, redis = urlparse(options.database_url), urlparse(options.redis_url)
    env, tokens = seeded_scratch(
        database_url=options.database_url, redis_url=options.redis_url, name="bench-faults", ACCORD_WEB_WORKERS="1"
    )
    northwind = tokens["partners"]["northwind"]
    example: dict[str, Any] = northwind["allowed_example"]
    principal, admin = northwind["principal"], northwind["admin"]

    def through(peer: LoopbackPeer, url: Any) -> str:
        return url._replace(netloc=f"{url.username or ''}{'@' if url.username else ''}127.0.0.1:{peer.port}").geturl()

    faults: list[tuple[str, Callable[[LoopbackPeer], None], str]] = [
        ("nothing (all up)", lambda peer: peer.relay(database.port or 5432), "database"),
        ("PostgreSQL refuses", lambda peer: peer.refuse(), "database"),
        ("PostgreSQL accepts, never answers", lambda peer: peer.silent(), "database"),
        ("PostgreSQL goes quiet mid-conversation", lambda peer: peer.relay(database.port or 5432), "database"),
        ("Redis refuses", lambda peer: peer.refuse(), "redis"),
        ("Redis accepts, never answers", lambda peer: peer.silent(), "redis"),
    ]
    rows: list[tuple[str, ...]] = []
    for name, arrange, which in faults:
        say(f"fault: {name}")
        peer = LoopbackPeer()
        arrange(peer)
        port = free_port()
        server_env = {**env}
        if which == "database":
            server_env["DATABASE_URL"] = through(peer, database)
        else:
            server_env["REDIS_URL"] = through(peer, redis)
        started = time.perf_counter()
        server = subprocess.Popen(  # noqa: S603 (our own server, on loopback)
            [PYTHON, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
            env=server_env,
            cwd=REPO,
        )
        try:
            # Up when it accepts connections: its first request is one of the measured ones.
            while not listening(port):
                if server.poll() is not None or time.perf_counter() - started > TIMEOUT:
                    raise SystemExit(f"the server did not start under '{name}'")
                time.sleep(0.2)
            time.sleep(2)  # the worker loads the policy (or fails to) before it takes requests
            if name.endswith("mid-conversation"):
                call(port, "/api/v1/decisions", token=principal, body=example)  # the connection is open and used
                peer.freeze()
            probes = [
                functools.partial(call, port, "/api/v1/decisions", token=principal, body=example),
                functools.partial(call, port, "/api/v1/grants", token=admin),
                functools.partial(call, port, "/", cookie="sessionid=not-a-session"),
                functools.partial(call, port, "/healthz"),
            ]
            rows.append((name, *(measure(probe) for probe in probes)))
        finally:
            server.terminate()
            server.wait(timeout=30)
            peer.close()

    print("| fault | decision | other API call (GET /api/v1/grants) | page (GET / with a session cookie) | /healthz |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
