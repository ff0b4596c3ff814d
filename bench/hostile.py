"""Hostile traffic against the web server as deployed: garbage of every kind at every API operation and at the
pages, counted by status, with every 5xx and every request that takes longer than --hang seconds listed.

    .venv/bin/python bench/hostile.py [--requests 20000] [--concurrency 8] [--seed 20261201]

It migrates and seeds a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench_hostile,
created when missing; never point it at a real one) and uses Redis database 10. Traffic goes to 127.0.0.1 only
and stops by itself. The operations come from the live OpenAPI document; the kinds of garbage are listed in
KINDS. Exit status 1 when any answer was a 5xx or a hang.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_decisions import free_port, say  # noqa: E402
from bench.scratch import seeded_scratch  # noqa: E402

PYTHON = sys.executable
PAGES = ["/", "/grants/", "/trail/", "/governance/bundles/", "/governance/artefacts/", "/registry/charters/"]


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def junk_text(rng: random.Random) -> str:
    pieces = ["\x00", "%00", "' OR 1=1 --", "<script>", "../../etc/passwd", "\ud7ff", "😀", "\u202e", "a" * 5000]
    return rng.choice(pieces) + "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 20)))


def junk_value(rng: random.Random) -> object:
    choices: list[Callable[[], object]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randrange(-(2**70), 2**70),
        lambda: rng.random() * 1e300,
        lambda: junk_text(rng),
        lambda: [junk_text(rng)] * rng.randrange(0, 50),
        lambda: {"nested": {"deeper": [None, 5, "x"]}},
        lambda: "9" * 400,
    ]
    return rng.choice(choices)()


# Each kind turns (method, path template, its body's field names) into raw request parts.
def kind_wrong_types(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    return json.dumps({name: junk_value(rng) for name in fields} or {"x": junk_value(rng)}).encode(), "json"


def kind_deep_json(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    return (deep(rng.choice([200, 1000, 5000, 50000]))).encode(), "json"


def kind_deep_field(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    name = rng.choice(fields or ["requests"])
    return f'{{"{name}": {deep(rng.choice([500, 3000]))}}}'.encode(), "json"


def kind_broken_json(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    return rng.choice([b"{", b'{"a": }', b"\xff\xfe\x00", b"null", b"[]", b'"text"', b"1e999999"]), "json"


def kind_many_fields(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    return "&".join(f"f{n}=v" for n in range(rng.choice([1001, 5000]))).encode(), "form"


def kind_nul(rng: random.Random, fields: list[str]) -> tuple[bytes, str]:
    return json.dumps({name: "a\x00b" for name in fields} or {"a": "\x00"}).encode(), "json"


KINDS: dict[str, Callable[[random.Random, list[str]], tuple[bytes, str]]] = {
    "wrong types": kind_wrong_types,
    "deep JSON": kind_deep_json,
    "deep field": kind_deep_field,
    "broken JSON": kind_broken_json,
    "1,000+ form fields": kind_many_fields,
    "NUL in strings": kind_nul,
}
QUERY_JUNK = ["\x00", "%00", "-1", "9" * 30, "null", "[]", "1e999", "%ff%fe", "a" * 3000, "../", "🙂"]
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}


def raw_request(
    port: int, method: str, target: str, headers: dict[str, str], body: bytes, timeout: float
) -> tuple[int | None, float]:
    """One request over a plain socket (so that anything can be sent); the status, or None, and the time."""
    started = time.perf_counter()
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(data)
            first = b""
            while b"\r\n" not in first:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                first += chunk
    except TimeoutError:
        return None, time.perf_counter() - started
    except OSError:
        return -1, time.perf_counter() - started
    elapsed = time.perf_counter() - started
    try:
        return int(first.split(b" ", 2)[1]), elapsed
    except (IndexError, ValueError):
        return -1, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--hang", type=float, default=10.0, help="seconds after which an answer counts as a hang")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/accord_bench_hostile")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    options = parser.parse_args()

    env, tokens = seeded_scratch(database_url=options.database_url, redis_url=options.redis_url, name="bench-hostile")
    identities = {
        "officer": tokens["officer"],
        "partner admin": tokens["partners"]["northwind"]["admin"],
        "principal": tokens["partners"]["northwind"]["principal"],
        "anonymous": "",
    }

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (our own server, on loopback)
        [PYTHON, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while raw_request(port, "GET", "/healthz", {}, b"", 5)[0] in (None, -1):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/?format=json", timeout=30) as answer:
            schema = json.load(answer)
        operations = []
        for path, methods in schema["paths"].items():
            for method, operation in methods.items():
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                name = body["$ref"].rsplit("/", 1)[-1] if body and "$ref" in body else ""
                fields = list(schema["components"]["schemas"].get(name, {}).get("properties", {}))
                operations.append((method.upper(), path, fields))

        rng = random.Random(options.seed)
        plan = []
        for number in range(options.requests):
            identity = rng.choice(list(identities))
            headers = {"Authorization": f"Bearer {identities[identity]}"} if identities[identity] else {}
            if number % 10 == 0:  # a page, with junk in its query
                target = f"{rng.choice(PAGES)}?q={rng.choice(QUERY_JUNK)}&page={rng.choice(QUERY_JUNK)}"
                plan.append(("page query", "GET", target, headers, b""))
                continue
            method, path, fields = rng.choice(operations)
            junk = rng.choice(QUERY_JUNK)
            target = path.replace("{", "").replace("}", "") if rng.random() < 0.5 else path
            for placeholder in ("{id}", "{slug}", "{ref}", "{number}", "{part}"):
                target = target.replace(placeholder, rng.choice([junk, "1", "northwind-evaluation"]))
            target = target.replace("{", "").replace("}", "")
            target += f"?limit={rng.choice(QUERY_JUNK)}&offset={rng.choice(QUERY_JUNK)}&since={rng.choice(QUERY_JUNK)}"
            if method == "GET":
                plan.append(("query junk", method, target.replace("\x00", "%00"), headers, b""))
                continue
            kind = rng.choice(list(KINDS))
            body, content = KINDS[kind](rng, fields)
            plan.append((kind, method, path, {**headers, "Content-Type": CONTENT_TYPES[content]}, body))

        statuses: collections.Counter[str] = collections.Counter()
        bad: list[str] = []
        lock = threading.Lock()

        def send(item: tuple[str, str, str, dict[str, str], bytes]) -> None:
            kind, method, target, headers, body = item
            encoded = target.encode("utf-8", "surrogateescape").decode("latin-1")
            status, elapsed = raw_request(port, method, encoded, headers, body, options.hang)
            with lock:
                if status is None:
                    statuses["hang"] += 1
                    bad.append(f"hang ({elapsed:.1f} s): {kind} {method} {target[:120]!r}")
                else:
                    statuses[str(status)] += 1
                    if status >= 500 or status == -1:
                        bad.append(f"{status}: {kind} {method} {target[:120]!r} body {body[:80]!r}")

        say(f"sending {len(plan):,} hostile requests at concurrency {options.concurrency}")
        started = time.perf_counter()
        with ThreadPoolExecutor(options.concurrency) as pool:
            list(pool.map(send, plan))
        elapsed = time.perf_counter() - started
        healthz = raw_request(port, "GET", "/healthz", {}, b"", 10)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"{len(plan):,} requests in {elapsed:.0f} s; /healthz afterwards: {healthz[0]} in {healthz[1] * 1000:.0f} ms")
    print("answers by status: " + ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())))
    five = sum(count for status, count in statuses.items() if status.startswith("5"))
    print(f"5xx: {five}, hangs over {options.hang:g} s: {statuses['hang']}, no HTTP answer: {statuses['-1']}")
    for line in bad[:40]:
        print("  " + line)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
