"""The decision API behind gunicorn (2 workers) under loopback load, against a bare DRF endpoint, in one run.

    .venv/bin/python bench/http_decisions.py [--duration 10] [--concurrency 2] [--batch 500]

It migrates and seeds a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench, created when
missing; never point it at a real one) and uses Redis database 14. Load comes from wrk (Debian package "wrk"),
for a bounded time, to 127.0.0.1 only. The trail and the rate limit are on, as in production: every decision is
recorded and counted.

Prints one JSON object per endpoint (requests/s, p50/p99 ms, decisions/s) and the ratio to the bare endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure_database(url: str) -> None:
    import psycopg2  # type: ignore[import-untyped]

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(*, workers: int) -> dict[str, str]:
    """The web server as deployed (accord/gunicorn_conf.py), sized and quietened through its environment: no
    access log line per request under load, warnings and errors only."""
    return {"ACCORD_WEB_WORKERS": str(workers), "ACCORD_WEB_ACCESS_LOG": "false", "ACCORD_LOG_LEVEL": "WARNING"}


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited while starting; its output is above.")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s.")


def post(port: int, path: str, token: str, body: object) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)


def wrk(port: int, path: str, token: str, body: object, *, duration: int, concurrency: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        )
    try:
        command = ["wrk", "-t", str(concurrency), "-c", str(concurrency), "-d", f"{duration}s", "--latency"]
        command += ["-s", script.name, f"http://127.0.0.1:{port}{path}"]
        output = subprocess.run(  # noqa: S603 (wrk against our own loopback server)
            command,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in output:
        raise SystemExit(f"{path} answered errors under load:\n{output}")

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            raise SystemExit(f"Could not read the {percent}th percentile from wrk:\n{output}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise SystemExit(f"Could not read requests/s from wrk:\n{output}")
    return {"rps": float(rps[1]), "p50_ms": latency("50"), "p99_ms": latency("99")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint (default 10)")
    parser.add_argument("--concurrency", type=int, default=2, help="connections, one wrk thread each (default 2)")
    parser.add_argument("--batch", type=int, default=1000, help="items per batch request (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/accord_bench",
        help="a scratch PostgreSQL database",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="a scratch Redis database")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian's package), then run this again.")

    ensure_database(options.database_url)
    var = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    (var / "static").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": options.database_url,
        "REDIS_URL": options.redis_url,
        "ACCORD_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    manage = [PYTHON, str(REPO / "manage.py")]
    say("migrating and seeding the scratch database")
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO, check=True)  # noqa: S603
    tokens_file = var / "tokens.json"
    subprocess.run(  # noqa: S603
        [*manage, "seed_demo", "--tokens-out", str(tokens_file)], env=env, cwd=REPO, check=True, capture_output=True
    )
    token = json.loads(tokens_file.read_text())["partners"]["northwind"]["principal"]
    asset = subprocess.run(  # noqa: S603
        [*manage, "shell", "-c", "from charters.models import AssetVersion as A; "
         "print(A.objects.get(asset__name='atlas-7b', label='1.0').fingerprint)"],
        env=env, cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split()[-1]  # fmt: skip

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (our own server, on loopback)
        [PYTHON, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
        env={**env, **server_environment(workers=options.workers)},
        cwd=REPO,
    )
    try:
        wait_until_up(port, server)
        one = {"action": "infer", "asset": asset, "purpose": "safety-evaluation"}
        batch = {"requests": [one] * options.batch}
        answer = post(port, "/api/v1/decisions", token, one)
        if not isinstance(answer, dict) or answer.get("allow") is not True:
            raise SystemExit(f"The demo principal's decision is not an allow; the run would measure denies: {answer}")
        for path, body in [("/bench/bare", one), ("/api/v1/decisions", one), ("/api/v1/decisions/batch", batch)]:
            for _ in range(20):  # warm-up: imports, connections, the snapshot
                post(port, path, token, body)
        results = {}
        for name, path, body in [
            ("bare", "/bench/bare", one),
            ("decisions", "/api/v1/decisions", one),
            ("batch", "/api/v1/decisions/batch", batch),
        ]:
            say(f"loading {path} for {options.duration} s at concurrency {options.concurrency}")
            results[name] = wrk(port, path, token, body, duration=options.duration, concurrency=options.concurrency)
        results["batch"]["decisions_per_s"] = results["batch"]["rps"] * options.batch
        for name, figures in results.items():
            print(json.dumps({"endpoint": name, **{key: round(value, 2) for key, value in figures.items()}}))
        print(
            json.dumps(
                {
                    "decisions_rps_vs_bare": round(results["decisions"]["rps"] / results["bare"]["rps"], 3),
                    "concurrency": options.concurrency,
                    "workers": options.workers,
                    "batch_items": options.batch,
                }
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
