"""Revoke-to-deny latency across every process of a multi-process server: gunicorn web workers and Celery worker
processes, each with its own policy snapshot and subscription.

    .venv/bin/python bench/propagation.py [--changes 50] [--web-workers 4] [--celery-concurrency 2]

Each round suspends a demo grant in this process and measures, from the moment the change committed:
  - "applied": when each server process reports (through Redis) that its snapshot holds the change: the push path
    alone, with no decision asked;
  - "http_deny": when a decision sent right after the commit comes back denied (the version check makes this
    immediate even where the push has not arrived yet).
It then resumes the grant, waits for every process to apply that too, and times one decision with no change
pending, for comparison. Uses the same scratch database and Redis
database as bench/http_decisions.py (migrated and seeded here; never point it at real data).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.http_decisions import PYTHON, REPO, ensure_database, free_port, say, server_environment, wait_until_up


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=50, help="suspensions to time (default 50)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--celery-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/accord_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    options = parser.parse_args()

    ensure_database(options.database_url)
    var = Path(tempfile.mkdtemp(prefix="accord-propagation-"))
    (var / "static").mkdir()
    os.environ.update(
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        ACCORD_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="accord.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tokens_file = var / "tokens.json"
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", tokens_out=tokens_file, stdout=quiet)

    from accounts.models import User
    from audit.trail import Actor
    from charters.models import AssetVersion
    from charters.services.policy_feed import policy_head
    from governance.grants.services import grant_resume, grant_suspend
    from governance.models import Grant
    from governance.policy.live import _redis, process_reports, report_prefix

    token = json.loads(tokens_file.read_text())["partners"]["northwind"]["principal"]
    principal = User.objects.get(username="northwind-gateway")
    asset = AssetVersion.objects.get(asset__name="atlas-7b", label="1.0").fingerprint
    grant = Grant.objects.get(principal=principal, asset_version__fingerprint=asset, status=Grant.Status.ACTIVE)
    bench = Actor.system("propagation-benchmark")
    client = _redis(options.redis_url)
    stale = list(client.scan_iter(report_prefix() + "*"))
    if stale:
        client.delete(*stale)

    port = free_port()
    web = [PYTHON, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
    web_env = {**os.environ, **server_environment(workers=options.web_workers)}
    worker = [PYTHON, "-m", "celery", "--app", "accord", "worker", "--loglevel", "WARNING", "--without-mingle"]
    worker += ["--without-gossip", "--concurrency", str(options.celery_concurrency), "--hostname", f"bench{port}@%h"]
    servers = [
        subprocess.Popen(web, cwd=REPO, env=web_env),  # noqa: S603
        subprocess.Popen(worker, cwd=REPO, env=os.environ.copy()),  # noqa: S603
    ]
    expected = options.web_workers + options.celery_concurrency
    body = json.dumps({"action": "infer", "asset": asset, "purpose": "safety-evaluation"}).encode()

    def ask() -> bool:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/decisions",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return bool(json.load(response)["allow"])

    def wait_applied(version: int, since: float, timeout: float = 10.0) -> dict[str, float]:
        """Seconds from ``since`` until each process reported ``version``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reports = process_reports()
            done = {name: float(str(report["reported_at"])) - since for name, report in reports.items()}
            if len(reports) >= expected and all(int(str(r["version"])) >= version for r in reports.values()):
                return done
            time.sleep(0.001)
        raise SystemExit(f"Not every process applied version {version} within {timeout} s: {process_reports()}")

    try:
        wait_until_up(port, servers[0])
        deadline = time.monotonic() + 60
        while len(process_reports()) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"Only {len(process_reports())} of {expected} processes reported within 60 s.")
            time.sleep(0.1)
        say(f"{expected} processes reporting; timing {options.changes} suspensions")
        applied: list[float] = []
        http_deny: list[float] = []
        steady: list[float] = []
        for round_number in range(1, options.changes + 1):
            grant_suspend(grant=grant, by=bench, reason=f"Propagation benchmark, round {round_number}.")
            committed = time.time()
            version = policy_head().seq
            if ask():
                raise SystemExit("A decision right after the suspension was allowed.")
            http_deny.append(time.time() - committed)
            applied += wait_applied(version, committed).values()
            grant.refresh_from_db()
            grant_resume(grant=grant, by=bench, reason="Propagation benchmark: back to active.")
            wait_applied(policy_head().seq, time.time())
            grant.refresh_from_db()
            started = time.time()
            if not ask():
                raise SystemExit("A decision after the grant was resumed everywhere was denied.")
            steady.append(time.time() - started)
            if sys.stderr.isatty():
                print(f"\r{round_number}/{options.changes}", end="", file=sys.stderr)
        print(
            json.dumps(
                {
                    "processes": expected,
                    "changes": options.changes,
                    "applied_p50_ms": round(percentile(applied, 0.5) * 1000, 2),
                    "applied_p99_ms": round(percentile(applied, 0.99) * 1000, 2),
                    "applied_max_ms": round(max(applied) * 1000, 2),
                    "http_deny_p50_ms": round(percentile(http_deny, 0.5) * 1000, 2),
                    "http_deny_p99_ms": round(percentile(http_deny, 0.99) * 1000, 2),
                    "http_allow_unchanged_p50_ms": round(percentile(steady, 0.5) * 1000, 2),
                }
            )
        )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
