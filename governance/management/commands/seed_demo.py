from __future__ import annotations

import json
import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.ops.demo import HOST_PEOPLE, PARTNERS, demo_password_path, seed_demo


class Command(BaseCommand):
    help = (
        "Load demo data (partners, officers, an auditor, partner admins and principals, assets). "
        "Safe to run again: a second run writes nothing unless --tokens-out is given."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--tokens-out",
            metavar="FILE",
            type=Path,
            help="Rotate the demo API tokens and write them to FILE as JSON (readable only by you).",
        )

    def handle(self, *args: Any, tokens_out: Path | None, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with ACCORD_ENV=production: demo logins do not belong there.")
        if tokens_out is not None and not tokens_out.parent.is_dir():
            raise CommandError(f"Cannot write tokens to {tokens_out}: the folder {tokens_out.parent} does not exist.")

        result = seed_demo(with_tokens=tokens_out is not None)

        if result.created:
            self.stdout.write(f"Demo data: created {len(result.created)} records: " + ", ".join(result.created) + ".")
        elif tokens_out is None:
            self.stdout.write("Demo data already present: nothing written.")
        else:
            self.stdout.write("Demo data already present.")
        if tokens_out is not None:
            fd = os.open(tokens_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(result.tokens, handle, indent=2)
                handle.write("\n")
            self.stdout.write(f"Demo API tokens rotated and written to {tokens_out}.")
        self._print_logins()

    def _print_logins(self) -> None:
        path = demo_password_path()
        password = path.read_text(encoding="utf-8").strip() if path.exists() else None
        self.stdout.write("Demo logins" + (f" (password for all: {password}):" if password else ":"))
        for _, username, name, role in HOST_PEOPLE:
            self.stdout.write(f"  {username:<18} {role.label} ({name})")
        for slug, partner, _ in PARTNERS:
            self.stdout.write(f"  {slug + '-admin':<18} Partner admin of {partner}")
        self.stdout.write(
            "Second factor: each demo person has an authenticator enrolled (development only). Print the codes it "
            "shows now with\n  make demo-codes   (or manage.py demo_codes --otpauth, to add it to your own app)"
        )
        if password is None:
            self.stdout.write(
                f"  The demo password file {path} is missing; set one with: python manage.py changepassword olivia"
            )
