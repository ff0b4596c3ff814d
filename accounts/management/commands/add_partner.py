from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accord.validation import describe
from accounts.services import partner_create
from audit.trail import Actor


class Command(BaseCommand):
    help = "Add a partner organisation (the tenant boundary). Its people are added with add_user --partner SLUG."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="The partner's name, e.g. 'Northwind Labs'.")
        parser.add_argument("--slug", default="", help="Short name used in the API and the trail (default: from NAME).")

    def handle(self, *args: Any, name: str, slug: str, **options: Any) -> None:
        try:
            partner = partner_create(name=name, slug=slug, by=Actor.system("manage.py add_partner"))
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        self.stdout.write(f"Partner {partner.name} added with slug {partner.slug}.")
