"""`manage.py bench_bundles`: what recording and rebuilding a policy bundle costs at a given number of grants."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from charters.services.policy_feed import Head
from governance.models import Grant
from governance.policy import synthetic
from governance.policy.snapshot import Snapshot


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class Command(BaseCommand):
    help = (
        "Measure, in memory, the steps of recording policy bundles on generated grants: compiling every line with "
        "its hash, writing and reading a checkpoint, and one change's delta. Prints one JSON object per size."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--grants", default="100000", help="sizes, comma-separated (default %(default)s)")
        parser.add_argument("--seed", type=int, default=20261122, help="generator seed, for a repeatable run")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sizes = [int(size) for size in options["grants"].split(",")]
        except ValueError:
            raise CommandError("--grants takes numbers separated by commas, like 1000,100000.") from None
        for size in sizes:
            rng = random.Random(options["seed"] + size)  # noqa: S311 (generated test data, not secrets)
            world = synthetic.world(rng, size)
            started = time.perf_counter()
            snapshot = Snapshot.build(world.grants, world.charters, world.members)
            build_ms = _ms(started)
            started = time.perf_counter()
            bundle = snapshot.bundle()
            lines_ms = _ms(started)
            started = time.perf_counter()
            checkpoint = json.dumps(snapshot.facts())
            checkpoint_ms = _ms(started)
            started = time.perf_counter()
            Snapshot.from_facts(json.loads(checkpoint), Head(0, ""))
            rebuild_ms = _ms(started)
            target = world.grants[len(world.grants) // 2]
            snapshot.journal = []
            started = time.perf_counter()
            snapshot.put_grant(dataclasses.replace(target, status=Grant.Status.SUSPENDED))
            change_us = round((time.perf_counter() - started) * 1_000_000, 1)
            self.stdout.write(
                json.dumps(
                    {
                        "grants": size,
                        "lines": len(bundle.policies) + len(bundle.groupings),
                        "build_ms": build_ms,
                        "sorted_lines_ms": lines_ms,
                        "checkpoint_write_ms": checkpoint_ms,
                        "checkpoint_mb": round(len(checkpoint) / 2**20, 1),
                        "rebuild_from_checkpoint_ms": rebuild_ms,
                        "one_change_us": change_us,
                        "one_change_delta_lines": len(snapshot.journal),
                    }
                )
            )
