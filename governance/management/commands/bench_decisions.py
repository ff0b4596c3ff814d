"""`manage.py bench_decisions`: the in-process decision's latency at growing numbers of grants, in memory.

Engine "accord" is evaluate() on a snapshot (the index, the charter guardrails, the validity window, as every
decision runs them; the version check, Redis and the trail are left out: bench/http_decisions.py measures those).
Engine "casbin" is Casbin's plain Enforcer over the same compiled lines, the reference, measured in the same run
at the sizes it can manage.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.decisions.services import DecisionRequest, evaluate
from governance.policy import synthetic
from governance.policy.bundle import enforcer_for, principal_subject
from governance.policy.snapshot import Snapshot


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--grants takes numbers separated by commas, like 100,10000; not {text!r}.") from None
    if not sizes or any(size < 1 or size > 2_000_000 for size in sizes):
        raise CommandError("Each --grants size must be between 1 and 2,000,000.")
    return sizes


def _rss_mb() -> float:
    """Resident memory of this process (Linux), for the load report."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return 0.0
    import resource

    return int(statm.read_text().split()[1]) * resource.getpagesize() / 2**20


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


class Command(BaseCommand):
    help = (
        "Measure decision latency on generated grants in memory (no database): Accord's snapshot against "
        "Casbin's plain Enforcer. Prints p50/p99 in microseconds and the load time per engine and size."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--grants", default="100,10000,100000", help="sizes to measure, comma-separated (default %(default)s)"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
        parser.add_argument("--decisions", type=int, default=20_000, help="timed decisions per size (accord)")
        parser.add_argument(
            "--casbin-max", type=int, default=10_000, help="largest size Casbin is measured at (default %(default)s)"
        )
        parser.add_argument("--seed", type=int, default=20261122, help="generator seed, for a repeatable run")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["decisions"] < 100:
            raise CommandError("--decisions must be at least 100 for a p99 to mean anything.")
        results = []
        for size in _sizes(options["grants"]):
            results += self._measure(size, options)
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        self.stdout.write(f"{'engine':8} {'grants':>9} {'p50 µs':>10} {'p99 µs':>10} {'load ms':>10}")
        for row in results:
            self.stdout.write(
                f"{row['engine']:8} {row['grants']:>9,} {row['p50_us']:>10,.1f} {row['p99_us']:>10,.1f} "
                f"{row['load_ms']:>10,.1f}"
            )

    def _progress(self, text: str, *, done: bool = False) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\033[K{text}" + ("\n" if done else ""))
        elif done:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _measure(self, size: int, options: dict[str, Any]) -> list[dict[str, Any]]:
        rng = random.Random(options["seed"] + size)  # noqa: S311 (generated test data, not secrets)
        self._progress(f"{size:,} grants: generating")
        world = synthetic.world(rng, size)
        requests = [synthetic.request(rng, world) for _ in range(options["decisions"])]

        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        snapshot = Snapshot.build(world.grants, world.charters, world.members)
        load_ms = (time.perf_counter() - started) * 1000
        gc.collect()
        gc.freeze()  # what live.start() does after loading
        self._progress(
            f"{size:,} grants: loaded in {load_ms:,.0f} ms, {_rss_mb() - before:,.0f} MB more resident memory, "
            f"{len(snapshot.bundle().policies):,} policy lines",
            done=True,
        )
        rows = [self._time_accord(size, snapshot, requests, load_ms)]
        if size <= options["casbin_max"]:
            rows.append(self._time_casbin(size, snapshot, requests))
        gc.unfreeze()
        return rows

    def _time_accord(
        self, size: int, snapshot: Snapshot, requests: list[tuple[int, str, str, str]], load_ms: float
    ) -> dict[str, Any]:
        asked = [
            (principal, DecisionRequest(action=action, asset=fingerprint, purpose=purpose))
            for principal, fingerprint, action, purpose in requests
        ]
        now, clock = synthetic.NOW, time.perf_counter_ns
        for principal, request in asked[:2_000]:  # warm-up
            evaluate(principal, request, snapshot, now)
        timings, allowed = [], 0
        for done, (principal, request) in enumerate(asked, start=1):
            started = clock()
            outcome = evaluate(principal, request, snapshot, now)
            timings.append((clock() - started) / 1000)
            allowed += outcome.grant is not None
            if done % 5_000 == 0:
                self._progress(f"{size:,} grants: accord {done:,}/{len(asked):,}")
        timings.sort()
        self._progress(f"{size:,} grants: accord done, {allowed:,} of {len(asked):,} allowed", done=True)
        return self._row("accord", size, timings, load_ms)

    def _time_casbin(self, size: int, snapshot: Snapshot, requests: list[tuple[int, str, str, str]]) -> dict[str, Any]:
        started = time.perf_counter()
        enforcer = enforcer_for(snapshot.bundle())
        load_ms = (time.perf_counter() - started) * 1000
        # The plain Enforcer is linear in the policy: fewer samples at larger sizes keep the run short.
        samples = max(30, min(2_000, 200_000 // size))
        timings = []
        for done, (principal, fingerprint, action, purpose) in enumerate(requests[:samples], start=1):
            candidates = snapshot.candidates(principal, fingerprint)
            charter = snapshot.charters[candidates[0].charter_id].slug if candidates else "charter-1"
            started_ns = time.perf_counter_ns()
            enforcer.enforce(principal_subject(principal), charter, fingerprint, action, purpose)
            timings.append((time.perf_counter_ns() - started_ns) / 1000)
            if done % 10 == 0:
                self._progress(f"{size:,} grants: casbin {done:,}/{samples:,}")
        timings.sort()
        self._progress(f"{size:,} grants: casbin done ({samples} decisions)", done=True)
        return self._row("casbin", size, timings, load_ms)

    @staticmethod
    def _row(engine: str, size: int, timings: list[float], load_ms: float) -> dict[str, Any]:
        return {
            "engine": engine,
            "grants": size,
            "p50_us": round(statistics.median(timings), 2),
            "p99_us": round(_percentile(timings, 0.99), 2),
            "load_ms": round(load_ms, 1),
        }
