"""What-if replay of a million recorded decisions, on a scratch PostgreSQL database.

    .venv/bin/python bench/whatif.py [--decisions 1000000] [--distinct 20000,1000000] [--grants 100000]

It migrates a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench, created when missing; the
name must start with accord_bench, since the trail is emptied first), writes the decisions as trail events spread
over the last 30 days (COPY, not timed), and replays them against a generated amendment of a generated policy. The
decisions repeat a pool of ``--distinct`` requests, as real traffic does; a pool as large as the decisions is the
worst case, where every request is evaluated on its own.

Prints one JSON object per pool size: the replay's total time, and, measured in the same run, the time to read and
group the window alone (the floor any replay pays); the rest is evaluating the distinct requests twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_decisions import ensure_database  # noqa: E402 (after the path is set)
from bench.trail_copy import copy_rows, decision_row  # noqa: E402


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def amendment(world: Any, rng: random.Random) -> Any:
    """One generated charter with some of its permissions taken away, as a candidate."""
    from governance.policy.bundle import CharterTerms
    from governance.whatif.services import Candidate

    charter = max(world.charters, key=lambda fact: len(fact.terms.active_shared))
    # Purposes sorted before drawing, as in synthetic.terms: a seed must give one amendment in every process.
    active = {
        kind: {
            action: {**slot, "purposes": {p for p in sorted(slot["purposes"]) if rng.random() < 0.6}}
            for action, slot in actions.items()
            if rng.random() < 0.8
        }
        for kind, actions in charter.terms.active.items()
    }
    terms = CharterTerms(active, active, charter.terms.active_shared, charter.terms.active_shared)
    label = f"generated amendment of {charter.slug}"
    return Candidate("charter_version", 0, label, dataclasses.replace(charter, terms=terms))


def fill(decisions: int, pool: list[tuple[int, str, str, str]], rng: random.Random) -> None:
    """``decisions`` trail events over the last 30 days, each asking one request of the pool (Zipf-like)."""
    from django.db import connection
    from django.utils import timezone

    from governance.decisions.records import decision_details

    now = timezone.now()
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(pool))]
    chosen = rng.choices(pool, weights=weights, k=decisions)
    step = timedelta(days=30) / decisions
    started = time.perf_counter()
    rows = (
        decision_row(
            now - timedelta(days=30) + step * (number + 1),
            principal,
            f"partner-{principal % 20}",
            decision_details(
                decision_id=uuid.uuid4().hex,
                action=action,
                asset=asset,
                purpose=purpose,
                codes=[],
                bundle="",
                grant_id=None,
            ),
        )
        for number, (principal, asset, action, purpose) in enumerate(chosen)
    )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_event RESTART IDENTITY")
        copy_rows(cursor, rows, decisions)
    say(f"  wrote {decisions:,} decisions in {time.perf_counter() - started:,.1f} s (not part of the replay)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--distinct", default="20000,1000000", help="request pool sizes, comma-separated")
    parser.add_argument("--grants", type=int, default=100_000, help="grants in the generated policy")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/accord_bench")
    parser.add_argument("--seed", type=int, default=20261122)
    options = parser.parse_args()
    if not options.database.rsplit("/", 1)[-1].startswith("accord_bench"):
        raise SystemExit("--database must name a scratch database whose name starts with accord_bench.")
    ensure_database(options.database)
    os.environ.update(DATABASE_URL=options.database, DJANGO_SETTINGS_MODULE="accord.settings")
    os.environ.setdefault("ACCORD_VAR_DIR", str(REPO / "var" / "bench"))
    os.environ.pop("REDIS_URL", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from governance.policy import synthetic
    from governance.policy.snapshot import Snapshot
    from governance.whatif import services as whatif

    call_command("migrate", verbosity=0)
    rng = random.Random(options.seed)
    world = synthetic.world(rng, options.grants)
    say(f"Generated policy: {options.grants:,} grants, {len(world.charters)} charters")
    candidate = amendment(world, rng)
    for distinct in (int(size) for size in options.distinct.split(",")):
        # Distinct in the order drawn: a set's order changes with each process's string hashing, and with it the pool.
        pool = list(dict.fromkeys(synthetic.request(rng, world) for _ in range(distinct * 2)))[:distinct]
        fill(options.decisions, pool, rng)
        now = timezone.now()
        started = time.perf_counter()
        requests = whatif._requests(now - timedelta(days=30), now, None)
        read_s = time.perf_counter() - started
        snapshot = Snapshot.build(world.grants, world.charters, world.members)
        started = time.perf_counter()
        report = whatif.whatif_replay(candidate, days=30, snapshot=snapshot, now=now, progress=progress_printer())
        replay_s = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "decisions": report.replayed,
                    "distinct_requests": report.distinct,
                    "grants": options.grants,
                    "replay_s": round(replay_s, 2),
                    "read_and_group_only_s": round(read_s, 2),
                    "rest_s": round(replay_s - read_s, 2),  # evaluating twice, comparing, examples
                    "flipped": report.flipped,
                    "to_deny": report.to_deny,
                    "to_allow": report.to_allow,
                    "groups_read": len(requests),
                }
            ),
            flush=True,
        )


def progress_printer() -> Any:
    def progress(scanned: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r  replaying: {scanned:,}/{total:,} events read", end="", file=sys.stderr, flush=True)

    return progress


if __name__ == "__main__":
    main()
