from __future__ import annotations

import getpass
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accord.validation import describe
from accounts.models import Organisation, Partner, User
from accounts.roles import PARTNER_ROLES, Role
from accounts.services import host_organisation_ensure, user_create
from audit.trail import Actor

ROLE_NAMES = {
    "officer": Role.OFFICER,
    "auditor": Role.AUDITOR,
    "partner-admin": Role.PARTNER_ADMIN,
    "principal": Role.PARTNER_PRINCIPAL,
}


class Command(BaseCommand):
    help = (
        "Add a person or a partner principal. Officers and auditors belong to the host organisation (created on "
        "first use); partner admins and principals need --partner SLUG. People are asked for a password."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_NAMES), help="What the user may do.")
        parser.add_argument("--partner", metavar="SLUG", help="The partner of a partner admin or principal.")
        parser.add_argument("--email", default="")
        parser.add_argument("--name", default="", help="Full name, for people.")
        parser.add_argument(
            "--password-stdin", action="store_true", help="Read the password from standard input (for scripts)."
        )

    def handle(self, *args: Any, username: str, role: str, partner: str | None, **options: Any) -> None:
        chosen = ROLE_NAMES[role]
        actor = Actor.system("manage.py add_user")
        organisation: Organisation
        if chosen in PARTNER_ROLES:
            if not partner:
                raise CommandError(f"A {chosen.label.lower()} belongs to a partner: add --partner SLUG.")
            found = Partner.objects.filter(slug=partner).first()
            if found is None:
                raise CommandError(
                    f"No partner {partner!r}. Add it first: python manage.py add_partner 'Name' --slug {partner}"
                )
            organisation = found
        else:
            if partner:
                raise CommandError(f"A {chosen.label.lower()} belongs to the host organisation: drop --partner.")
            organisation = host_organisation_ensure(name=settings.ACCORD_HOST_ORGANISATION, by=actor)

        password = None
        if chosen != Role.PARTNER_PRINCIPAL:
            password = self._password(username, read_stdin=options["password_stdin"])
        try:
            user = user_create(
                username=username,
                organisation=organisation,
                role=chosen,
                by=actor,
                email=options["email"],
                password=password,
                full_name=options["name"],
            )
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        self.stdout.write(f"{chosen.label} {user.username} added to {organisation.name}.")
        if chosen == Role.PARTNER_PRINCIPAL:
            self.stdout.write(
                "Principals use API tokens only: issue one on the API tokens page or POST /api/v1/tokens/issue."
            )

    def _password(self, username: str, *, read_stdin: bool) -> str:
        if read_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"Password for {username}: ")
            if getpass.getpass("Again: ") != password:
                raise CommandError("The two passwords differ; nothing was added.")
        try:
            validate_password(password, User(username=username))
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        return password
