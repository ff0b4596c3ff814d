"""The usage roll-up at scale, on a scratch PostgreSQL database: counting a trail of decisions, and reading it.

    .venv/bin/python bench/usage.py [--events 10000000] [--grants 100000] [--days 30]
    .venv/bin/python bench/usage.py --reuse     # the pages and the checks again, on the database a run filled

It migrates a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench_usage, created when
missing; the name must start with accord_bench, since the trail is emptied first), seeds the demo world, adds
``--grants`` active grants, and writes ``--events`` decisions spread over the last ``--days`` days and over the
grants, ``--burst`` in a row under each (one in ten a deny with a code), by COPY, and seals them (not timed:
bench/audit.py measures sealing). Prints one JSON object per measurement:

- rollup: the roll-up counting every event, as its beat task does, a run at a time (events/s, runs, rows written);
- rollup_idle: one more run with nothing new (what the task costs every minute once it is current);
- home: the officer's home page, ``/api/v1/usage`` (24 hours by hour, 30 days by day), the usage page (with the
  grants nearest their quota), the timeliness page and the partner portal of the partner holding every grant, in ms;
- anomalies: one anomaly-checks run over every active grant (seconds, and per grant).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_decisions import ensure_database  # noqa: E402 (after the path is set)
from bench.trail_copy import copy_rows  # noqa: E402

CODES = ("action_not_permitted", "purpose_not_permitted", "quota_exhausted", "no_grant")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def fresh_database(url: str) -> None:
    """The scratch database dropped and made again: every run starts from the same nothing."""
    from urllib.parse import urlparse

    import psycopg2  # type: ignore[import-untyped]

    parsed = urlparse(url)
    admin = psycopg2.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username,
                             password=parsed.password, dbname="postgres")  # fmt: skip
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')
    admin.close()
    ensure_database(url)


def grants_add(count: int) -> list[tuple[int, int, str]]:
    """``count`` more active grants, copies of a demo grant: (grant id, principal id, asset fingerprint)."""
    from governance.models import Grant

    model = Grant.objects.filter(status=Grant.Status.ACTIVE, principal__isnull=False).first()
    if model is None:
        raise SystemExit("seed_demo made no active grant to copy.")
    fields = {field.attname: getattr(model, field.attname) for field in Grant._meta.concrete_fields}
    fields.pop("id")
    for start in range(0, count, 10_000):
        Grant.objects.bulk_create(Grant(**fields) for _ in range(min(10_000, count - start)))
        if sys.stderr.isatty():
            print(f"\r  adding grants {min(start + 10_000, count):,}/{count:,}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_grant")  # the planner's statistics, as autovacuum would make them
    rows = Grant.objects.filter(status=Grant.Status.ACTIVE).values_list(
        "pk", "principal_id", "asset_version__fingerprint"
    )
    return [(pk, principal or 0, fingerprint) for pk, principal, fingerprint in rows]


def trail_fill(events: int, grants: list[tuple[int, int, str]], days: int, burst: int) -> None:
    """COPY the decisions, then seal them: the roll-up reads the chain."""
    import secrets

    from django.db import connection
    from django.utils import timezone

    from governance.decisions.records import decision_details

    rng = random.Random(20261203)
    now = timezone.now()
    span = days * 86400

    def rows() -> Iterator[str]:
        for number in range(events):
            grant, principal, asset = grants[(number // burst) % len(grants)]
            allowed = rng.random() >= 0.1
            details = decision_details(
                decision_id=f"{number:032x}",
                action="infer",
                asset=asset,
                purpose="benchmarking",
                codes=[] if allowed else [rng.choice(CODES)],
                bundle="",
                grant_id=grant if allowed or rng.random() < 0.5 else None,
            )
            # A burst's decisions fall in the same few seconds: a gateway asks before each call of a job.
            at = now - timedelta(seconds=span * (events - number) / events)
            cells = [at.isoformat(), "principal", str(principal), f"principal-{principal}", "northwind",
                     "decision.allow" if allowed else "decision.deny", "", "", "success" if allowed else "denied",
                     "" if allowed else "denied", "", json.dumps(details), secrets.token_hex(16)]  # fmt: skip
            yield "\t".join(cells) + "\n"

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_event, audit_checkpoint, governance_usagecount RESTART IDENTITY")
        cursor.execute("UPDATE governance_usagerollupcursor SET chain_seq = 0")
        copy_rows(cursor, rows(), events)  # ANALYZEs the trail after
    from audit import chain

    say("  sealing them (the roll-up reads the chain)")
    sealed = 0
    while sealed < events:
        sealed += chain.seal().sealed
        if sys.stderr.isatty():
            print(f"\r  sealed {sealed:,}/{events:,}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)


def timed_ms(call: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, (time.perf_counter() - started) * 1000)
    return round(best, 1)


def fill_and_count(options: argparse.Namespace) -> tuple[int, list[Any]]:
    """The demo world, the grants and the decisions written, then counted by the roll-up as its task does."""
    from django.core.management import call_command

    from governance.models import Grant, UsageCount
    from governance.usage.services import BATCH, MAX_BATCHES, usage_rollup

    say("Seeding the demo world")
    call_command("seed_demo", verbosity=0, stdout=io.StringIO())
    say(f"Adding {options.grants:,} grants")
    grants = grants_add(max(options.grants - Grant.objects.filter(status=Grant.Status.ACTIVE).count(), 0))
    say(f"Writing {options.events:,} decisions over {options.days} days (COPY; not timed)")
    trail_fill(options.events, grants, options.days, options.burst)

    say("Counting them with the roll-up, a run at a time")
    started, runs, counted = time.perf_counter(), 0, 0
    while True:
        result = usage_rollup()
        runs += 1
        counted += result.events
        if sys.stderr.isatty():
            print(f"\r  counted {counted:,}/{options.events:,} in {runs} runs", end="", file=sys.stderr, flush=True)
        if result.events < BATCH * MAX_BATCHES:
            break
    if sys.stderr.isatty():
        print(file=sys.stderr)
    seconds = time.perf_counter() - started
    emit({"measure": "rollup", "events": counted, "grants": len(grants), "burst": options.burst, "runs": runs,
          "seconds": round(seconds, 1),
          "events_per_s": round(counted / seconds), "rows": UsageCount.objects.count(),
          "per_run": BATCH * MAX_BATCHES})  # fmt: skip
    return counted, grants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="decisions in the trail (default 10,000,000)")
    parser.add_argument("--grants", type=int, default=100_000, help="active grants (default 100,000)")
    parser.add_argument("--days", type=int, default=30, help="the days the decisions are spread over (default 30)")
    parser.add_argument(
        "--burst",
        type=int,
        default=20,
        help="decisions in a row under one grant, as a job asks (default 20; 1: each "
        "decision under the next grant, the roll-up's worst case)",
    )
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/accord_bench_usage")
    parser.add_argument("--skip-anomalies", action="store_true", help="leave out the anomaly-checks run")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the pages and the checks again on the database an earlier run filled (after a change to them); "
        "nothing is written or counted from scratch",
    )
    options = parser.parse_args()
    if not options.database.rsplit("/", 1)[-1].startswith("accord_bench"):
        raise SystemExit("--database must name a scratch database whose name starts with accord_bench.")
    if not options.reuse:
        fresh_database(options.database)
    os.environ.update(DATABASE_URL=options.database, DJANGO_SETTINGS_MODULE="accord.settings")
    os.environ.setdefault("ACCORD_VAR_DIR", str(REPO / "var" / "bench"))
    os.environ.pop("REDIS_URL", None)
    anchor = REPO / "var" / "bench" / "usage-anchor.jsonl"
    if not options.reuse:
        anchor.unlink(missing_ok=True)  # the database is new: so is its chain
    os.environ["ACCORD_AUDIT_ANCHOR_FILE"] = str(anchor)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count, Sum
    from django.test import Client
    from django.test.utils import setup_test_environment

    from governance.models import Grant, UsageCount
    from governance.usage.services import usage_rollup

    call_command("migrate", verbosity=0)
    if options.reuse:
        grants = list(Grant.objects.filter(status=Grant.Status.ACTIVE).values_list("pk", flat=True))
        counted = UsageCount.objects.filter(interval="day").aggregate(n=Sum("count"))["n"] or 0
        if not counted:
            raise SystemExit("--reuse needs a database an earlier run filled: run without it first.")
        usage_rollup()  # what committed since
    else:
        counted, grants = fill_and_count(options)
    emit({"measure": "rollup_idle", "ms": timed_ms(usage_rollup)})

    from django.conf import settings
    from django.test.utils import override_settings

    from accounts.models import User
    from tests.helpers import sign_in

    setup_test_environment()  # the test client's host name, as the tests use it
    # Pages render without `collectstatic` here: plain static file names, as in the tests.
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    override_settings(STORAGES=plain).enable()
    officer = User.objects.get(username="olivia")
    client = Client()
    sign_in(client, officer)  # a session that passed its second factor: the pages and the API below take it

    partner_admin = Client()
    # The admin of the partner that holds the most grants (the added ones are copies of one demo grant).
    holder = Grant.objects.values("partner").annotate(n=Count("pk")).order_by("-n").first()
    if holder is None:
        raise SystemExit("The database holds no grant: run without --reuse first.")
    sign_in(partner_admin, User.objects.filter(organisation_id=holder["partner"], groups__name="partner_admin").first())
    emit({
        "measure": "home",
        "grants": len(grants),
        "events": counted,
        "officer_home_ms": timed_ms(lambda: client.get("/")),
        "usage_24h_by_hour_ms": timed_ms(lambda: client.get("/api/v1/usage?interval=hour")),
        "usage_30d_by_day_ms": timed_ms(lambda: client.get("/api/v1/usage?interval=day")),
        "usage_page_30d_ms": timed_ms(lambda: client.get("/governance/usage/?span=30d")),
        "timeliness_12m_ms": timed_ms(lambda: client.get("/governance/timeliness/?span=12m")),
        "partner_portal_ms": timed_ms(lambda: partner_admin.get("/portal/")),
    })  # fmt: skip

    if not options.skip_anomalies:
        from governance.anomalies.services import anomalies_check

        say("One anomaly-checks run over every active grant")
        started = time.perf_counter()
        found = anomalies_check()
        seconds = time.perf_counter() - started
        active = Grant.objects.filter(status=Grant.Status.ACTIVE).count()
        emit({"measure": "anomalies", "active_grants": active, "findings": len(found), "seconds": round(seconds, 1),
              "ms_per_grant": round(seconds * 1000 / max(active, 1), 3)})  # fmt: skip


if __name__ == "__main__":
    main()
