"""`manage.py policy status | test | bundles | whatif`: which processes follow the policy feed, the policy test
cases, the recorded bundles, and what-if replays of recorded decisions."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.http import Http404
from tqdm import tqdm

from accord.validation import describe, is_whole_number
from charters.models import CharterVersion
from charters.services.policy_feed import policy_head
from governance.models import Grant, PolicyBundle
from governance.policy import cases
from governance.policy.bundles import bundles_record
from governance.policy.live import process_reports
from governance.policy.selectors import bundle_get
from governance.policy.snapshot import Snapshot
from governance.whatif import services as whatif

# Set in the child process that runs the cases on its own throwaway database.
SCRATCH = "ACCORD_POLICY_TEST_SCRATCH"


class Command(BaseCommand):
    help = (
        "Policy operations. `policy status`: the feed's head, the compiled policy, and every live process's version. "
        "`policy test [PATH...]`: run the policy test cases (default: policy_tests/). "
        "`policy bundles [--record]`: the recorded policy bundles. "
        "`policy whatif --charter SLUG:N | --grant ID [--days N]`: which recorded decisions a change would flip."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)  # noqa: S101 (what Django hands every command)
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        status = commands.add_parser(
            "status",
            help="show the feed's head, the policy compiled from the database, and each process's version",
            called_from_command_line=getattr(self, "_called_from_command_line", None),
        )
        status.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        test = commands.add_parser(
            "test",
            help="run policy test cases on a fresh scratch database; exit 1 when any expectation fails",
            called_from_command_line=getattr(self, "_called_from_command_line", None),
        )
        test.add_argument("paths", nargs="*", type=Path, help="case files or folders (default: policy_tests/)")
        test.add_argument(
            "--bundle",
            metavar="HASH_OR_CHANGE",
            help="ask the cases' requests of this stored bundle (in this database) instead of building their policy",
        )
        listing = commands.add_parser(
            "bundles",
            help="list the newest policy bundles (with --record: record those not yet recorded first)",
            called_from_command_line=getattr(self, "_called_from_command_line", None),
        )
        listing.add_argument("--record", action="store_true", help="record bundles for new policy changes first")
        listing.add_argument("--limit", type=int, default=20, help="how many to list (default 20)")
        whatif_parser = commands.add_parser(
            "whatif",
            help="replay the recorded decisions of the last N days against a change not yet in force",
            called_from_command_line=getattr(self, "_called_from_command_line", None),
        )
        candidate = whatif_parser.add_mutually_exclusive_group(required=True)
        candidate.add_argument(
            "--charter", metavar="SLUG:N", help="a charter version in review, e.g. northwind-evaluation:2"
        )
        candidate.add_argument("--grant", type=int, metavar="ID", help="a requested grant, by its number")
        whatif_parser.add_argument("--days", type=int, default=30, help="how many days to replay (default 30)")
        whatif_parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, command: str, **options: Any) -> None:
        if command == "test":
            self._test(options["paths"] or [Path(settings.BASE_DIR) / "policy_tests"], bundle_ref=options["bundle"])
            return
        if command == "bundles":
            self._bundles(record=options["record"], limit=options["limit"])
            return
        if command == "whatif":
            self._whatif(options["charter"], options["grant"], days=options["days"], as_json=options["json"])
            return
        if command != "status":
            raise CommandError(
                f"Unknown policy command {command!r}: try `policy status`, `test`, `bundles` or `whatif`."
            )
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

    # --- policy whatif ----------------------------------------------------------------------------------

    def _whatif(self, version: str | None, grant: int | None, *, days: int, as_json: bool) -> None:
        try:
            candidate = _candidate(version, grant)
            with tqdm(
                total=0, unit=" events", unit_scale=True, desc="Replaying", disable=not sys.stderr.isatty()
            ) as bar:

                def progress(scanned: int, total: int) -> None:
                    bar.total = total
                    bar.update(scanned - bar.n)

                report = whatif.whatif_replay(candidate, days=days, progress=progress)
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_json()))
            return
        self.stdout.write(f"What if: {report.candidate}")
        self.stdout.write(
            f"Replayed {report.replayed:,} decisions ({report.distinct:,} distinct requests) from the last "
            f"{report.days} day(s) in {report.elapsed_ms / 1000:,.1f} s: {report.flipped:,} would flip, "
            f"{report.to_deny:,} to deny and {report.to_allow:,} to allow."
        )
        for partner in report.partners:
            if not partner.flipped:
                continue
            self.stdout.write(
                f"  {partner.partner}: {partner.flipped:,} of {partner.replayed:,} flip "
                f"({partner.to_deny:,} to deny, {partner.to_allow:,} to allow), for example:"
            )
            for example in partner.examples:
                self.stdout.write(
                    f"    {example.occurred_at[:19]} {example.principal} {example.action} {example.asset[:12]}… "
                    f"for {example.purpose}: {example.before} -> {example.after} (decision {example.decision_id})"
                )

    # --- policy bundles ---------------------------------------------------------------------------------

    def _bundles(self, *, record: bool, limit: int) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        try:
            if record:
                written = bundles_record(limit=100_000)
                self.stdout.write(f"Recorded {written} bundle(s).")
            listed = list(PolicyBundle.objects.defer("checkpoint", "added", "removed")[:limit])
        except DatabaseError as error:
            raise CommandError(f"Could not read the bundles: {error}. Is the database up and migrated?") from None
        if not listed:
            self.stdout.write("No bundle recorded yet: run with --record, or let the worker's schedule do it.")
        for bundle in listed:
            change = f"{bundle.change_kind} #{bundle.change_object}" if bundle.change_kind else "first recorded"
            self.stdout.write(
                f"{bundle.seq:>8}  {bundle.hash[:16]}  {bundle.line_count:>9,} lines  {change:<16} "
                f"{bundle.changed_at:%Y-%m-%d %H:%M:%S}  {bundle.changed_by}"
            )

    # --- policy test ------------------------------------------------------------------------------------

    def _test(self, paths: list[Path], *, bundle_ref: str | None) -> None:
        try:
            loaded = [cases.load(_relative(path)) for path in cases.discover(paths)]
        except cases.CaseError as error:
            raise CommandError(str(error), returncode=2) from None
        bundle = None
        if bundle_ref is not None:
            try:
                bundle = bundle_get(bundle_ref)
            except Http404 as error:
                raise CommandError(str(error), returncode=2) from None
            self.stdout.write(f"Against bundle {bundle.hash[:16]} (change {bundle.seq}): allow or deny only.")
        elif os.environ.get(SCRATCH) != "1":
            raise SystemExit(self._in_scratch(paths))
        else:
            call_command("migrate", verbosity=0, interactive=False)
            logging.getLogger("governance.policy.live").setLevel(logging.WARNING)  # a "Policy loaded" per case
        failed: list[cases.Outcome] = []
        requests = passed = 0
        for case in loaded:
            outcome = cases.run_against_bundle(case, bundle) if bundle else cases.run(case)
            self.stdout.write(f"{case.path}: {case.name}")
            if outcome.error:
                self.stdout.write(self.style.ERROR(f"  ERROR {outcome.error}"))
            for check in outcome.checks:
                requests += 1
                passed += check.passed
                if check.passed:
                    self.stdout.write(f"  ok    {check.name}")
                else:
                    self.stdout.write(
                        self.style.ERROR(f"  FAIL  {check.name}: expected {check.expected}, got {check.got}")
                    )
            if not outcome.passed:
                failed.append(outcome)
        summary = f"{len(loaded)} cases, {requests} requests: {passed} passed, {requests - passed} failed"
        if failed:
            names = "; ".join(f"{outcome.case.name} ({outcome.case.path})" for outcome in failed)
            raise CommandError(f"{summary}. Failing cases: {names}.")
        self.stdout.write(self.style.SUCCESS(summary + "."))

    def _in_scratch(self, paths: list[Path]) -> int:
        """Run the cases again in a child process on a fresh embedded database that is thrown away after."""
        with tempfile.TemporaryDirectory(prefix="accord-policy-test-") as scratch:
            env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
            env.update({SCRATCH: "1", "ACCORD_VAR_DIR": scratch, "ACCORD_ENV": "development"})
            manage = Path(settings.BASE_DIR) / "manage.py"
            command = [sys.executable, str(manage), "policy", "test", *map(str, paths)]
            return subprocess.run(command, env=env, check=False).returncode  # noqa: S603 (this same command)


def _relative(path: Path) -> Path:
    """The path as a person would type it from here, when it is under the current folder."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _candidate(version: str | None, grant: int | None) -> whatif.Candidate:
    """The change to replay, named on the command line as SLUG:N or a grant's number."""
    if grant is not None:
        found = Grant.objects.select_related("asset_version__asset", "principal", "partner_role").filter(pk=grant)
        if not found.exists():
            raise CommandError(f"No grant #{grant}: `manage.py shell` or the grants page lists their numbers.")
        return whatif.candidate_grant(found.get())
    slug, _, number = (version or "").partition(":")
    if not is_whole_number(number):
        raise CommandError(f"Name the charter version as SLUG:NUMBER, e.g. northwind-evaluation:2 (got {version!r}).")
    found_version = CharterVersion.objects.select_related("charter").filter(charter__slug=slug, number=int(number))
    if not found_version.exists():
        raise CommandError(f"Charter {slug!r} has no version {number}: the charter's page lists its versions.")
    return whatif.candidate_version(found_version.get())
