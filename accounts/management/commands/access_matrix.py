"""Print the authorization matrix: every address and method, its rule, its token scopes, and what each role gets."""

from __future__ import annotations

import csv
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from accounts import matrix
from accounts.roles import HOST_ROLES, Role

COLUMNS = ["address", "name", "method", "rule", "scopes", *[role.label for role in Role], "visitor"]


def rows() -> list[list[str]]:
    """One row per address and method (a step endpoint once per step), from the URL patterns themselves."""
    found = []
    for route, name in matrix.url_patterns():
        entry = matrix.access_for(name)
        if entry is None:
            found.append([route, name or "", "*", "NO ENTRY: answers no one", "", *["403"] * len(Role), "403"])
            continue
        if name.startswith("admin:"):
            continue
        for method, rule in entry.methods.items():
            steps = rule.operations.items() if isinstance(rule, matrix.ByStep) else [("", rule)]
            for step, resolved in steps:
                address = route.replace(f"<str:{rule.param}>", step) if isinstance(rule, matrix.ByStep) else route
                found.append(_row(address, name, method, entry, resolved))
    found.append(["/admin/...", "admin:*", "GET POST", "the admin's own staff check", "", "", "", "", "", "login"])
    return found


def _row(address: str, name: str, method: str, entry: matrix.Access, rule: Any) -> list[str]:
    described = f"operation {rule}" if isinstance(rule, matrix.Operation) else f"audience: {rule}"
    api = address.startswith("/api/")
    cells = []
    for role in Role:
        if role == Role.PARTNER_PRINCIPAL and not api and rule != matrix.Audience.ANYONE:
            cells.append("login (no pages)")
        elif matrix.allows_role(role, rule):
            cells.append("allowed")
        elif entry.names and role not in HOST_ROLES:
            cells.append("404" if entry.names not in matrix.VISIBLE else "403 (404 if not theirs)")
        else:
            cells.append("403")
    visitor = "allowed" if rule == matrix.Audience.ANYONE else ("401" if api else "login")
    scopes = " ".join(sorted(entry.scopes)) if api else ""
    return [address, name, method, described, scopes, *cells, visitor]


class Command(BaseCommand):
    help = (
        "Print the authorization matrix (accounts/matrix.py): each address and method, the operation or audience "
        "that rules it, the token scopes that reach an API address, and what each role gets: allowed, 403, or 404 "
        "for a partner's people at an object that is not theirs. Principals have no pages: a page sends them, like "
        "a visitor, to log in."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--csv", action="store_true", help="Comma-separated values, for a spreadsheet.")

    def handle(self, *args: Any, csv: bool, **options: Any) -> None:
        table = [COLUMNS, *rows()]
        if csv:
            _write_csv(self.stdout, table)
            return
        widths = [max(len(row[column]) for row in table) for column in range(len(COLUMNS))]
        for row in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _write_csv(out: Any, table: list[list[str]]) -> None:
    writer = csv.writer(out)
    for row in table:
        writer.writerow(row)
