from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.ops.demo import demo_codes


class Command(BaseCommand):
    help = (
        "Print the codes the demo people's authenticators show now (the second factor of `make run`'s demo logins). "
        "Development only: production has no pre-enrolled factors."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", nargs="?", help="Only this demo person (default: all of them).")
        parser.add_argument(
            "--otpauth",
            action="store_true",
            help="Also print each otpauth:// address, to add it to an authenticator app.",
        )

    def handle(self, *args: Any, username: str | None, otpauth: bool, **options: Any) -> None:
        try:
            codes = demo_codes()
        except PermissionError as refusal:
            raise CommandError(str(refusal)) from None
        if username:
            codes = [code for code in codes if code.username == username]
        if not codes:
            raise CommandError(
                f"No demo authenticator{' for ' + username if username else ''}: run `python manage.py seed_demo` "
                "first (make run does)."
            )
        for code in codes:
            self.stdout.write(f"  {code.username:<18} {code.code}   (changes in {code.seconds_left:>2} s)")
            if otpauth:
                self.stdout.write(f"  {'':<18} {code.otpauth}")
