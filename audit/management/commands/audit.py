"""`manage.py audit seal | verify | export | actions`: the trail's chain, its check, exports for auditors, and the
actions it records."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from audit import chain, exports
from audit.actions import actions_markdown
from audit.trail import Actor


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = parse_datetime(value) or parse_datetime(f"{value}T00:00:00+00:00")
    except ValueError:  # well-formed but impossible, like 2026-02-30
        moment = None
    if moment is None:
        raise CommandError(
            f"--{name} takes an ISO time such as 2026-11-01 or 2026-11-01T12:00:00+00:00; got {value!r}."
        )
    return moment


class Command(BaseCommand):
    help = (
        "The audit trail. `audit seal`: seal new events into the hash chain and write a signed checkpoint. "
        "`audit verify [--from N]`: recompute the chain and check the checkpoints; exit 1 naming the first damage. "
        "`audit export --format jsonl|csv --out FILE`: a file and its signed manifest, for offline verification. "
        "`audit actions`: every action the trail records and what it means, as the operator guide lists them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)  # noqa: S101 (what Django hands every command)
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        called = getattr(self, "_called_from_command_line", None)
        commands.add_parser(
            "seal", help="seal new events and write a signed checkpoint", called_from_command_line=called
        )
        verify = commands.add_parser(
            "verify", help="recompute the chain and check every checkpoint", called_from_command_line=called
        )
        verify.add_argument("--from", dest="start", type=int, default=1, metavar="CHAIN_SEQ", help="start here")
        verify.add_argument(
            "--anchor",
            type=Path,
            metavar="FILE",
            help="a copy of the checkpoints written outside the database (default: ACCORD_AUDIT_ANCHOR_FILE)",
        )
        verify.add_argument(
            "--public-key",
            action="append",
            default=[],
            metavar="KEY",
            help="trust only this public key (url-safe base64, as /api/v1/audit/public-key lists it); repeatable",
        )
        export = commands.add_parser(
            "export", help="write events and a signed manifest beside them", called_from_command_line=called
        )
        export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
        export.add_argument(
            "--out", type=Path, required=True, help="the file to write; the manifest is FILE.manifest.json"
        )
        export.add_argument("--partner", default="", help="one partner's slice: other events appear as digests only")
        export.add_argument("--since", help="events at or after this time (ISO 8601)")
        export.add_argument("--until", help="events before this time (ISO 8601)")
        commands.add_parser(
            "actions", help="list every action the trail records, as Markdown", called_from_command_line=called
        )

    def handle(self, *args: Any, command: str, **options: Any) -> None:
        if command == "actions":  # the registry is data: no database needed
            self.stdout.write(actions_markdown(), ending="")
            return
        try:
            if command == "seal":
                self._seal()
            elif command == "verify":
                self._verify(options["start"], options["public_key"], options["anchor"])
            else:
                self._export(options)
        except DatabaseError as error:
            raise CommandError(f"Could not read the trail: {error}. Is the database up and migrated?") from None

    def _seal(self) -> None:
        try:
            result = chain.seal()  # always a checkpoint, events or not
        except chain.ChainBrokenError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Sealed {result.sealed:,} event(s); the chain ends at {result.chain_seq:,} "
            f"({result.chain_hash[:16]}…); {result.checkpoints} checkpoint(s) written."
        )

    def _verify(self, start: int, public_keys: list[str], anchor: Path | None) -> None:
        if start < 1:
            raise CommandError("--from counts in chain_seq, which starts at 1.")
        if anchor is not None and not anchor.is_file():
            raise CommandError(f"{anchor} is not a file: give the copy of the anchor file to check against.")
        try:
            raw_keys = [chain.decode(key) for key in public_keys]
        except ValueError:
            raw_keys = []
        if len(raw_keys) != len(public_keys) or any(len(raw) != 32 for raw in raw_keys):
            raise CommandError(
                "--public-key takes an Ed25519 public key as /api/v1/audit/public-key lists it (url-safe base64)."
            )
        pinned = {chain.key_id_of(raw): key for raw, key in zip(raw_keys, public_keys, strict=True)} or None
        with tqdm(desc="Verifying", unit=" events", unit_scale=True, disable=not sys.stderr.isatty()) as bar:
            result = chain.verify(start=start, pinned_keys=pinned, anchor=anchor, progress=bar.update)
        if not result.intact:
            for damage in result.damage:
                self.stderr.write(f"DAMAGED: {damage}")
            raise CommandError(f"The trail is not intact: {result.damage[0]}.")
        newest = result.newest_checkpoint_at
        age = f", the newest {(timezone.now() - newest).total_seconds():,.0f} s old" if newest else ""
        self.stdout.write(
            f"Intact: {result.checked:,} event(s) from chain_seq {start} to {result.last_seq:,}; "
            f"{result.checkpoints:,} signed checkpoint(s){age}."
        )

    def _export(self, options: dict[str, Any]) -> None:
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent} is not a folder: create it first, or give --out another path.")
        with tqdm(desc="Exporting", unit=" events", unit_scale=True, disable=not sys.stderr.isatty()) as bar:
            try:
                manifest = exports.trail_export(
                    out,
                    fmt=options["format"],
                    by=Actor.system("manage.py audit export"),
                    partner=options["partner"],
                    since=_moment(options["since"], "since"),
                    until=_moment(options["until"], "until"),
                    progress=bar.update,
                )
            except exports.ExportError as error:
                raise CommandError(str(error)) from None
        self.stdout.write(
            f"Wrote {manifest['count']:,} event(s) ({manifest['full']:,} in full) to {out}, chain_seq "
            f"{manifest['first_seq']} to {manifest['last_seq']}; manifest {exports.manifest_path(out)}."
        )
        self.stdout.write(json.dumps({"sha256": manifest["file_sha256"], "key_id": manifest["key_id"]}))
