"""Policy test cases: files that carry a small policy and the decisions it must give, run like `opa test`.

A case builds its world on an empty database through the real services (the demo registry, then its charters,
principals, roles and grants), asks its requests through the real decision path at the times it names, and
compares each answer (allow, or deny with a code) with the expectation. The caller runs each case inside a
transaction that it rolls back, so cases never see each other.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings
from django.db import transaction

from accounts.models import Organisation, Partner, User
from accounts.roles import Role
from accounts.services import actor_for, user_create
from audit.trail import Actor
from charters import documents
from charters.documents import CharterDocumentError, Problem
from charters.models import AssetVersion, Charter
from charters.services import (
    charter_acknowledge,
    charter_apply,
    charter_suspend,
    charter_version_approve,
    charter_version_submit,
)
from charters.services.charters import required_trainings
from charters.terms import terms_of
from governance.decisions import services as decisions
from governance.grants.roles import partner_role_add_member, partner_role_create
from governance.grants.services import grant_approve, grant_hold, grant_request, grant_revoke, grant_suspend
from governance.models import PartnerRole, PolicyBundle
from governance.ops.demo import SeedResult, seed_registry
from governance.policy import live
from governance.policy.bundle import Bundle, enforcer_for, principal_subject
from governance.policy.selectors import bundle_lines

SCHEMA_PATH = Path(__file__).resolve().parent / "case.schema.json"
REPOSITORY = Path(settings.BASE_DIR)
DEFAULT_AT = "2026-10-01T12:00:00Z"
RUNNER = Actor.system("policy-test")
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
# Far beyond what a case asks, unless the case sets its own.
LIMITS = {"daily_quota": 1_000_000, "monthly_quota": 10_000_000, "rate_per_minute": 1_000_000}


class CaseError(Exception):
    """The case file cannot be run as written: the message names the file, the place and what to change."""


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@dataclass
class Case:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["case"])


@dataclass
class Check:
    name: str
    expected: str
    got: str

    @property
    def passed(self) -> bool:
        return self.expected == self.got


@dataclass
class Outcome:
    case: Case
    checks: list[Check] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(check.passed for check in self.checks)


def load(path: Path) -> Case:
    """Read and check one case file; CaseError with every problem, each with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CaseError(f"{path}: cannot be read: {error.strerror}.") from None
    try:
        parsed = documents.parse(text, source=str(path), expected="a policy test case is a YAML mapping with case:.")
        documents.validate_schema(parsed, source=str(path), validator=_validator())
    except CharterDocumentError as error:
        raise CaseError(str(error)) from None
    return Case(path=path, data=parsed.data)


def discover(paths: list[Path]) -> list[Path]:
    """The .yaml files named, and those under the folders named, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("*.yaml"))
        elif path.exists():
            found.append(path)
        else:
            raise CaseError(f"{path}: no such file or folder.")
    if not found:
        raise CaseError(f"No policy test cases (*.yaml) in {', '.join(map(str, paths))}.")
    return found


def _when(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CaseError(f"{where}: {text!r} is not a date or time; write 2026-10-01 or 2026-10-01T12:00:00Z.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _asset(text: str) -> AssetVersion | str | None:
    """An asset reference: "name label" is that version (None when there is none); a fingerprint is its version,
    or the fingerprint itself when unknown (asking about an unknown asset is a fair request)."""
    if FINGERPRINT.match(text):
        return AssetVersion.objects.filter(fingerprint=text).first() or text
    name, _, label = text.rpartition(" ")
    return AssetVersion.objects.filter(asset__name=name, label=label).first()


class _World:
    """What a case builds, and how it finds its names again."""

    def __init__(self, case: Case) -> None:
        self.case = case
        registry = seed_registry(SeedResult())
        self.officer = registry.host_people["officer"]
        self.approver = registry.host_people["second_officer"]
        self.admins = {slug: people["admin"] for slug, people in registry.partner_people.items()}
        self.users = {user.username: user for people in registry.partner_people.values() for user in people.values()}
        self.roles: dict[str, PartnerRole] = {}
        self.charters: list[Charter] = []

    def where(self, *path: object) -> str:
        return f"{self.case.path}: {documents.dotted(list(path))}"

    def partner(self, slug: str, *path: object) -> Partner:
        partner = Partner.objects.filter(slug=slug).first()
        if partner is None:
            raise CaseError(f"{self.where(*path)}: no partner {slug!r}; the demo registry has northwind and helix.")
        return partner

    def user(self, username: str, *path: object) -> User:
        if username not in self.users:
            known = ", ".join(sorted(self.users))
            raise CaseError(f"{self.where(*path)}: no principal {username!r}; declare it under principals ({known}).")
        return self.users[username]

    def asset(self, text: str, *path: object) -> AssetVersion | str:
        version = _asset(text)
        if version is None:
            raise CaseError(f'{self.where(*path)}: no asset version {text!r}; write "name label", e.g. "atlas-7b 1.0".')
        return version

    def build(self) -> None:
        data = self.case.data
        for index, entry in enumerate(data["charters"]):
            self._charter(entry, ("charters", index))
        for index, entry in enumerate(data.get("principals", [])):
            partner = self.partner(entry["partner"], "principals", index, "partner")
            self.users[entry["username"]] = user_create(
                username=entry["username"], organisation=partner, role=Role.PARTNER_PRINCIPAL, by=RUNNER
            )
        for index, entry in enumerate(data.get("roles", [])):
            partner = self.partner(entry["partner"], "roles", index, "partner")
            role = partner_role_create(partner=partner, slug=entry["role"], by=RUNNER)
            for member in entry["members"]:
                partner_role_add_member(role=role, principal=self.user(member, "roles", index, "members"), by=RUNNER)
            self.roles[f"{partner.slug}/{role.slug}"] = role
        for index, entry in enumerate(data.get("grants", [])):
            self._grant(entry, ("grants", index))
        # Last, because no grant can be requested under a suspended charter.
        for entry, charter in zip(data["charters"], self.charters, strict=True):
            if entry.get("status") == "suspended":
                charter_suspend(charter=charter, by=RUNNER, reason="As the policy test case says.")

    def _charter(self, entry: dict[str, Any], path: tuple[object, ...]) -> None:
        file = REPOSITORY / entry["file"]
        try:
            text = file.read_text(encoding="utf-8")
        except OSError:
            where = self.where(*path, "file")
            raise CaseError(f"{where}: cannot read {entry['file']} (paths start at the repository).") from None
        version = charter_apply(text=text, source=entry["file"], by=actor_for(self.officer))
        if version is None:
            raise CaseError(f"{self.where(*path)}: {entry['file']} is already applied by an earlier entry.")
        charter_version_submit(version=version, by=RUNNER)
        version = charter_version_approve(version=version, by=actor_for(self.approver))
        charter = version.charter
        if entry.get("accepted", True):
            admin = self.admins[charter.partner.slug]
            charter_acknowledge(
                version=version,
                trainings_confirmed=[training["name"] for training in required_trainings(version)],
                by=actor_for(admin),
            )
        self.charters.append(charter)

    def _grant(self, entry: dict[str, Any], path: tuple[object, ...]) -> None:
        if ("principal" in entry) == ("role" in entry):
            raise CaseError(f"{self.where(*path)}: name either a principal or a role (partner/role).")
        version = self.asset(entry["asset"], *path, "asset")
        if isinstance(version, str):
            raise CaseError(f"{self.where(*path, 'asset')}: no asset version has fingerprint {version}.")
        principal = self.user(entry["principal"], *path, "principal") if "principal" in entry else None
        role = self.roles.get(entry.get("role", ""))
        if "role" in entry and role is None:
            raise CaseError(f"{self.where(*path, 'role')}: no role {entry['role']!r}; declare it under roles.")
        partner = Partner.objects.get(pk=principal.organisation_id) if principal else role.partner  # type: ignore[union-attr]
        charter = next((c for c in self.charters if c.partner_id == partner.pk), None)
        if charter is None or charter.active_version is None:
            raise CaseError(f"{self.where(*path)}: no charter of {partner.slug} in this case to stand on.")
        window = terms_of(charter.active_version).window.as_document()
        grant = grant_request(
            partner=partner,
            asset_version=version,
            principal=principal,
            partner_role=role,
            actions=entry["actions"],
            purposes=entry["purposes"],
            valid_from=_when(entry.get("from", window["from"]), self.where(*path, "from")),
            valid_until=_when(entry.get("until", window["until"]), self.where(*path, "until")),
            justification="Policy test case.",
            by=actor_for(self.admins[partner.slug]),
            requires_session=entry.get("requires_session", False),
            requires_attestation=entry.get("requires_attestation", False),
            daily_quota=entry.get("daily_quota", LIMITS["daily_quota"]),
            monthly_quota=LIMITS["monthly_quota"],
            rate_per_minute=entry.get("rate_per_minute", LIMITS["rate_per_minute"]),
        )
        grant = grant_approve(grant=grant, by=actor_for(self.officer))
        status = entry.get("status", "active")
        if status == "suspended":
            grant_suspend(grant=grant, by=RUNNER, reason="As the policy test case says.")
        elif status == "held":
            grant_hold(grant=grant, by=RUNNER, reason="As the policy test case says.")
        elif status == "revoked":
            grant_revoke(grant=grant, by=RUNNER, reason="As the policy test case says.")

    def ask(self, entry: dict[str, Any], path: tuple[object, ...]) -> str:
        principal = self.user(entry["principal"], *path, "principal")
        version = self.asset(entry["asset"], *path, "asset")
        fingerprint = version if isinstance(version, str) else version.fingerprint
        request = decisions.DecisionRequest(action=entry["action"], asset=fingerprint, purpose=entry["purpose"])
        now = _when(entry.get("at", DEFAULT_AT), self.where(*path, "at"))
        answer = None
        for _ in range(entry.get("repeat", 1)):
            answer = decisions.decide(principal, request, now=now)
        assert answer is not None  # noqa: S101 (repeat is at least 1)
        return "allow" if answer.allow else f"deny ({answer.reasons[0]['code']})"


def expected(entry: dict[str, Any]) -> str:
    if entry["expect"] == "allow":
        return "allow"
    return f"deny ({entry['code']})" if "code" in entry else "deny"


def run(case: Case) -> Outcome:
    """Build the case's world and ask its requests, inside a transaction that is always rolled back."""
    outcome = Outcome(case=case)
    if Organisation.objects.exists():
        raise CaseError(
            "Policy test cases need an empty database, and this one has data. `manage.py policy test` makes its "
            "own; from code, run them on a fresh test database."
        )
    with transaction.atomic():
        live.forget()
        try:
            world = _World(case)
            world.build()
            for index, entry in enumerate(case.data["requests"]):
                got = world.ask(entry, ("requests", index))
                want = expected(entry)
                if want == "deny" and got.startswith("deny"):
                    got = "deny"  # no code named: any deny will do
                outcome.checks.append(Check(name=entry["name"], expected=want, got=got))
        except CaseError as error:
            outcome.error = str(error)
        except Exception as error:  # a service refused the world as written: say so, as the case's failure
            messages = getattr(error, "message_dict", None) or getattr(error, "messages", None) or str(error)
            outcome.error = f"{case.path}: the case's policy could not be built: {messages}"
        finally:
            transaction.set_rollback(True)
            live.forget()
    return outcome


__all__ = ["Case", "CaseError", "Check", "Outcome", "Problem", "discover", "load", "run"]


def run_against_bundle(case: Case, bundle: PolicyBundle) -> Outcome:
    """Ask the case's requests of a stored bundle, with Casbin's reference Enforcer over its lines.

    The bundle is the policy here, so the case's own charters and grants are not built, and principals and assets
    are looked up in this database. A bundle holds lines, not guardrails: only allow or deny is compared, and a
    deny code the case names is reported but not checked.
    """
    lines = bundle_lines(bundle)
    enforcer = enforcer_for(
        Bundle(
            policies=tuple(sorted(line[1:] for line in lines if line[0] == "p")),
            groupings=tuple(sorted(line[1:] for line in lines if line[0] == "g")),
            hash=bundle.hash,
        )
    )
    outcome = Outcome(case=case)
    for index, entry in enumerate(case.data["requests"]):
        where = f"{case.path}: {documents.dotted(['requests', index])}"
        principal = User.objects.select_related("organisation").filter(username=entry["principal"]).first()
        if principal is None:
            outcome.error = f"{where}.principal: no user {entry['principal']!r} in this database."
            return outcome
        version = _asset(entry["asset"])
        if version is None:
            outcome.error = f"{where}.asset: no asset version {entry['asset']!r} in this database."
            return outcome
        asset = version if isinstance(version, str) else version.fingerprint
        charters = Charter.objects.filter(partner_id=principal.organisation_id).values_list("slug", flat=True)
        allowed = any(
            enforcer.enforce(principal_subject(principal.pk), charter, asset, entry["action"], entry["purpose"])
            for charter in charters
        )
        outcome.checks.append(Check(name=entry["name"], expected=entry["expect"], got="allow" if allowed else "deny"))
    return outcome
