"""What the bounded waits on PostgreSQL (accord/postgres/guard.py) cost per round trip, against psycopg2's own
blocking waits, measured in the same run:

    .venv/bin/python bench/db_guard.py [--database-url postgres://postgres@127.0.0.1:5432/test] [--rounds 5]

Each round times 5,000 `SELECT 1` round trips on a plain connection and on a guarded one, alternately; prints
the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

import psycopg2  # type: ignore[import-untyped]  # noqa: E402
from psycopg2 import extensions  # noqa: E402

from accord.postgres import guard  # noqa: E402


def round_trips(connection: Any, count: int) -> float:
    """Microseconds per round trip."""
    cursor = connection.cursor()
    started = time.perf_counter()
    for _ in range(count):
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=5000)
    options = parser.parse_args()

    plain = psycopg2.connect(options.database_url)
    guard.install(connect_timeout=3, retry_seconds=5, default_deadline=10)
    guarded = psycopg2.connect(options.database_url, connection_factory=guard.GuardedConnection)
    rounds = []
    for _ in range(options.rounds):
        extensions.set_wait_callback(None)  # psycopg2 consults the callback on each wait
        blocking = round_trips(plain, options.count)
        extensions.set_wait_callback(guard.wait)
        rounds.append((blocking, round_trips(guarded, options.count)))
    blocking = statistics.median(b for b, _ in rounds)
    bounded = statistics.median(g for _, g in rounds)
    print(f"SELECT 1 round trip: blocking {blocking:.1f} µs, guarded {bounded:.1f} µs, ratio {bounded / blocking:.3f}")


if __name__ == "__main__":
    main()
