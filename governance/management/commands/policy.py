"""`manage.py policy status`: the policy feed's head, and which processes follow it."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from charters.services.policy_feed import policy_head
from governance.policy.live import process_reports
from governance.policy.snapshot import Snapshot


class Command(BaseCommand):
    help = "Policy operations. `policy status`: the feed's head, the compiled policy, and every live process's version."

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)  # noqa: S101 (what Django hands every command)
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        status = commands.add_parser(
            "status",
            help="show the feed's head, the policy compiled from the database, and each process's version",
            called_from_command_line=getattr(self, "_called_from_command_line", None),
        )
        status.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args: Any, command: str, **options: Any) -> None:
        if command != "status":
            raise CommandError(f"Unknown policy command {command!r}: try `policy status`.")
        try:
            head = policy_head()
            snapshot = Snapshot.load()
        except DatabaseError as error:
            raise CommandError(
                f"Could not read the policy: {error}. Is the database up, and migrated (`manage.py migrate`)?"
            ) from None
        now = time.time()
        processes = {
            name: {**report, "behind": int(str(report["version"])) < head.seq}
            for name, report in process_reports().items()
        }
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "feed": {"seq": head.seq},
                        "bundle": snapshot.bundle_hash,
                        "grants": len(snapshot.grants),
                        "load_ms": round(snapshot.loaded_ms, 1),
                        "processes": processes,
                    }
                )
            )
            return
        self.stdout.write(f"Policy feed at change {head.seq}.")
        self.stdout.write(
            f"Compiled from the database: {len(snapshot.grants):,} grants in {snapshot.loaded_ms:,.0f} ms, "
            f"bundle {snapshot.bundle_hash[:16]}…"
        )
        if not settings.REDIS_URL:
            self.stdout.write(
                "Processes report their versions through Redis; without REDIS_URL there is nothing to list."
            )
            return
        if not processes:
            self.stdout.write("No process has reported in the last 15 s: are web and worker running?")
            return
        for name, report in processes.items():
            state = "BEHIND" if report["behind"] else "current"
            self.stdout.write(
                f"  {name:32} version {report['version']:>8} {state:8} {report['grants']:>9,} grants, "
                f"reported {now - float(str(report['reported_at'])):.0f} s ago"
            )
        behind = [name for name, report in processes.items() if report["behind"]]
        if behind:
            self.stdout.write(
                f"{len(behind)} process(es) behind the feed. A process catches up at its next decision anyway; "
                "one that stays behind has lost its Redis subscription: check its log for 'Policy listener failed'."
            )
