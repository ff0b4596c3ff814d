from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accord.validation import describe
from accounts.models import User
from accounts.operations import Operation, may
from accounts.services import actor_for
from charters import documents
from charters.documents import CharterDocumentError
from charters.models import Charter
from charters.services.charters import charter_apply, charter_current_version, charter_plan, version_as_yaml


class Command(BaseCommand):
    help = (
        "Charters as code. plan: show what a charter file would change; apply: write it as a draft (a second "
        "officer approves it in the web UI); export: print a charter's current version as YAML; schema: print the "
        "JSON Schema that charter files follow."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="{plan,apply,export,schema}")
        plan = commands.add_parser("plan", help="Show the diff against each charter's current version. Writes nothing.")
        plan.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        apply = commands.add_parser("apply", help="Write each file as its charter's draft (replacing an open draft).")
        apply.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        apply.add_argument("--author", required=True, metavar="USERNAME", help="The officer the draft is written by.")
        export = commands.add_parser("export", help="Print a charter's current version as YAML.")
        export.add_argument("name", help="The charter's name (slug).")
        commands.add_parser("schema", help="Print the JSON Schema of charter files.")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "plan":
            self._plan(options["paths"])
        elif subcommand == "apply":
            self._apply(options["paths"], options["author"])
        elif subcommand == "export":
            self._export(options["name"])
        else:
            self.stdout.write(json.dumps(documents.schema(), indent=2))

    def _read(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None

    def _plan(self, paths: list[Path]) -> None:
        failures = []
        for path in paths:
            try:
                plan = charter_plan(text=self._read(path), source=str(path))
            except CharterDocumentError as error:
                failures.append(str(error))
                continue
            if not plan.changes:
                self.stdout.write(f"{path}: no changes to {plan.slug}.")
                continue
            what = f"version {plan.current.number}" if plan.current else "nothing (a new charter)"
            self.stdout.write(f"{path}: changes to {plan.slug}, compared with {what}:")
            for line in plan.diff:
                style = (
                    self.style.SUCCESS if line.startswith("+") else self.style.ERROR if line.startswith("-") else str
                )
                self.stdout.write(style(line))
        if failures:
            raise CommandError("\n".join(failures) + "\nNothing was written.")

    def _apply(self, paths: list[Path], author_name: str) -> None:
        author = User.objects.filter(username=author_name).first()
        if author is None or not may(author, Operation.CHARTER_WRITE):
            raise CommandError(f"--author must name a governance officer; {author_name!r} is not one.")
        texts = {path: self._read(path) for path in paths}
        for path, text in texts.items():
            try:
                version = charter_apply(text=text, source=str(path), by=actor_for(author))
            except CharterDocumentError as error:
                raise CommandError(f"{error}\nNothing was written for {path}.") from None
            except ValidationError as error:
                raise CommandError(f"{path}: {describe(error)} Nothing was written for it.") from None
            if version is None:
                self.stdout.write(f"{path}: no changes; nothing written.")
            else:
                self.stdout.write(
                    f"{path}: {version.charter.slug} version {version.number} saved as a draft (revision "
                    f"{version.revision}). Submit it for review; a second officer approves it."
                )

    def _export(self, name: str) -> None:
        charter = Charter.objects.filter(slug=name).first()
        version = charter_current_version(charter) if charter else None
        if version is None:
            known = ", ".join(Charter.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No charter {name!r} (known: {known}).")
        self.stdout.write(version_as_yaml(version), ending="")
