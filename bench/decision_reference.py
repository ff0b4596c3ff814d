"""Latency of the whole decision path in one process (the policy version check, the snapshot's answer with its
guardrails, limits, the trail), without HTTP. `manage.py bench_decisions` measures the in-memory part alone and
bench/http_decisions.py the same path behind gunicorn.

Run it against a scratch database, never a real one: it migrates and loads the demo data.

    ACCORD_VAR_DIR=$(mktemp -d) .venv/bin/python bench/decision_reference.py            # embedded SQLite
    ACCORD_VAR_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch \\
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/decision_reference.py

Prints one JSON object: the database, whether Redis is used, and p50/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=300, help="how many decisions to time (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed decisions first (default 20)")
    options = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import User
    from charters.models import AssetVersion
    from governance.decisions import services as decisions

    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    principal = User.objects.get(username="northwind-gateway")
    fingerprint = AssetVersion.objects.get(asset__name="atlas-7b", label="1.0").fingerprint
    request = decisions.DecisionRequest(action="infer", asset=fingerprint, purpose="safety-evaluation")

    for _ in range(options.warmup):
        decisions.decide(principal, request)
    timings = []
    for done in range(options.decisions):
        started = time.perf_counter()
        decision = decisions.decide(principal, request)
        timings.append((time.perf_counter() - started) * 1000)
        if not decision.allow:
            raise SystemExit(f"decision {done} was denied: {decision.reasons}")
        if sys.stderr.isatty() and done % 50 == 0:
            print(f"\r{done}/{options.decisions}", end="", file=sys.stderr)
    timings.sort()
    print(
        json.dumps(
            {
                "engine": "accord",
                "db": connection.vendor,
                "redis": bool(os.environ.get("REDIS_URL")),
                "decisions": options.decisions,
                "p50_ms": round(statistics.median(timings), 3),
                "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
