"""Demo data for a first look: partners, people, principals and assets, created through the real services.

Idempotent by construction: each piece is looked up first and created only when missing, so a second run
reads and writes nothing (not even an event).

The example charters name fixed days; the demo moves each one's window to start this month, so that a demo seeded
on any day allows what it shows.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accord.env import generated_secret
from accounts.factors import DEMO_AUTHENTICATOR, factor_added_record
from accounts.models import ApiToken, Organisation, Partner, User
from accounts.roles import Role
from accounts.services import (
    actor_for,
    api_token_issue,
    api_token_rotate,
    host_organisation_ensure,
    partner_create,
    user_create,
)
from audit.trail import Actor
from charters import documents
from charters.models import Asset, AssetVersion, Charter
from charters.services import (
    asset_register,
    asset_version_register,
    charter_acknowledge,
    charter_apply,
    charter_version_approve,
    charter_version_submit,
)
from charters.services.charters import required_trainings
from charters.terms import terms_of
from governance.grants.services import grant_approve, grant_request
from governance.models import Artefact, Grant
from governance.vault.artefacts import artefact_store

SEEDER = Actor.system("seed_demo")
EXAMPLE_CHARTERS = Path(__file__).resolve().parents[2] / "charters" / "examples"
DEMO_TOKEN_NAME = "demo"  # noqa: S105 (the name shown in token lists)

HOST_PEOPLE = [
    # (token key, username, full name, role)
    ("officer", "olivia", "Olivia Okafor", Role.OFFICER),
    ("second_officer", "oscar", "Oscar Lindqvist", Role.OFFICER),
    ("auditor", "audrey", "Audrey Park", Role.AUDITOR),
]
PARTNERS = [
    # (slug, name, admin full name)
    ("northwind", "Northwind Labs", "Nadia Northcott"),
    ("helix", "Helix Bio", "Henrik Halvorsen"),
]
ASSETS = [
    # (owner slug or None for the host, name, kind, description, [(label, classification, size in bytes)])
    (
        None,
        "atlas-7b",
        "model",
        "General-purpose 7B language model.",
        [("1.0", "shareable", 14_483_464_192), ("1.1", "shareable", 14_483_470_336)],
    ),
    (
        None,
        "atlas-70b",
        "model",
        "Flagship 70B model; weights never leave the host.",
        [("2.0", "proprietary", 141_733_920_768)],
    ),
    (
        None,
        "sentinel-classifier",
        "model",
        "Safety classifier used to screen outputs.",
        [("0.9", "restricted", 438_001_664)],
    ),
    (
        None,
        "clinical-notes-deid",
        "dataset",
        "De-identified clinical notes for evaluation.",
        [("2026-09", "restricted", 2_147_483_648)],
    ),
    (
        "northwind",
        "northwind-eval-suite",
        "dataset",
        "Northwind's own evaluation prompts.",
        [("1.0", "shareable", 52_428_800)],
    ),
    (
        "helix",
        "atlas-7b-helix-ft",
        "derivative",
        "Helix's fine-tune of atlas-7b 1.0.",
        [("1.0", "restricted", 14_483_480_576)],
    ),
]


def demo_fingerprint(asset: str, label: str) -> str:
    return hashlib.sha256(f"accord-demo:{asset}:{label}".encode()).hexdigest()


def demo_password_path() -> Path:
    return settings.VAR_DIR / "secrets" / "demo-password"


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    tokens: dict[str, object] = field(default_factory=dict)


def _person(result: SeedResult, *, username: str, full_name: str, role: Role, organisation: Organisation) -> User:
    user = User.objects.filter(username=username).select_related("organisation").first()
    if user is not None:
        return user
    password = None if role == Role.PARTNER_PRINCIPAL else generated_secret(demo_password_path(), nbytes=12)
    user = user_create(
        username=username,
        organisation=organisation,
        role=role,
        by=SEEDER,
        email=f"{username}@{organisation.slug}.example",
        password=password,
        full_name=full_name,
    )
    result.created.append(f"{role.label.lower()} {username}")
    if not user.is_service:
        # A fresh random secret per install: a newcomer reads its codes with `manage.py demo_codes`, or adds it to
        # an authenticator app from the otpauth address that command prints.
        device = TOTPDevice.objects.create(user=user, name=DEMO_AUTHENTICATOR, confirmed=True)
        factor_added_record(user, device, by=SEEDER)
    return user


@dataclass(frozen=True)
class DemoCode:
    username: str
    code: str
    seconds_left: int
    otpauth: str


def demo_codes() -> list[DemoCode]:
    """The codes the demo people's authenticators show now. Refused in production, where no factor is ever
    pre-enrolled (seed_demo refuses to run there too)."""
    if settings.PRODUCTION:
        raise PermissionError("demo codes do not exist with ACCORD_ENV=production: people enrol their own factors.")
    now = time.time()
    found = []
    for device in TOTPDevice.objects.filter(name=DEMO_AUTHENTICATOR, confirmed=True).select_related("user"):
        totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        totp.time = now
        left = device.step - int(now - device.t0) % device.step
        found.append(DemoCode(device.user.username, f"{totp.token():0{device.digits}d}", left, device.config_url))
    return sorted(found, key=lambda demo: demo.username)


def _demo_token(user: User) -> str:
    """Rotate the user's demo token in place, or issue it the first time."""
    token = ApiToken.objects.filter(user=user, name=DEMO_TOKEN_NAME).order_by("id").first()
    if token is None:
        _, raw = api_token_issue(user=user, name=DEMO_TOKEN_NAME, by=SEEDER)
    else:
        _, raw = api_token_rotate(token=token, by=SEEDER)
    return raw


def demo_validity(validity: dict[str, str], *, today: date) -> dict[str, str]:
    """A charter's ``validity`` moved to start on the first of ``today``'s month, as long as before (so a grant for
    the whole window is valid from the day the demo is seeded)."""
    starts = today.replace(day=1)
    length = documents.parse_date(validity["until"]) - documents.parse_date(validity["from"])
    return {"from": starts.isoformat(), "until": (starts + length).isoformat()}


def _charters(result: SeedResult, *, officer: User, approver: User, people: dict[str, dict[str, User]]) -> None:
    """Each example charter file, valid from this month, drafted by one officer, approved by the other and accepted
    by the partner."""
    today = timezone.now().date()
    for path in sorted(EXAMPLE_CHARTERS.glob("*.yaml")):
        document = documents.parse(path.read_text(encoding="utf-8"), source=path.name).data
        slug = document["name"]
        if Charter.objects.filter(slug=slug).exists():
            continue
        document["validity"] = demo_validity(document["validity"], today=today)
        version = charter_apply(text=documents.to_yaml(document), source=path.name, by=actor_for(officer))
        if version is None:
            continue
        charter_version_submit(version=version, by=SEEDER)
        charter_version_approve(version=version, by=actor_for(approver))
        admin = people[version.charter.partner.slug]["admin"]
        charter_acknowledge(
            version=version,
            trainings_confirmed=[training["name"] for training in required_trainings(version)],
            by=actor_for(admin),
        )
        result.created.append(f"charter {slug} (active, accepted by {admin.username})")


# One grant per demo principal: (partner, asset, version, actions, purposes, an allowed example).
DEMO_GRANTS = [
    (
        "northwind",
        "atlas-7b",
        "1.0",
        ["evaluate", "infer"],
        ["benchmarking", "safety-evaluation"],
        ("infer", "safety-evaluation"),
    ),
    ("helix", "atlas-7b", "1.0", ["infer"], ["research-evaluation"], ("infer", "research-evaluation")),
]
# Far beyond what a benchmark sends, so a load test measures decisions, not quota denials.
DEMO_LIMITS = {"daily_quota": 1_000_000_000, "monthly_quota": 1_000_000_000, "rate_per_minute": 100_000_000}


def _grants(result: SeedResult, *, approver: User, people: dict[str, dict[str, User]]) -> dict[str, dict[str, object]]:
    """An active grant for each demo principal, requested by its partner admin and approved by an officer."""
    examples: dict[str, dict[str, object]] = {}
    for slug, asset_name, label, actions, purposes, (action, purpose) in DEMO_GRANTS:
        principal, admin = people[slug]["principal"], people[slug]["admin"]
        version = AssetVersion.objects.get(asset__name=asset_name, label=label)
        examples[slug] = {"action": action, "asset": version.fingerprint, "purpose": purpose, "context": {}}
        if Grant.objects.filter(principal=principal, asset_version=version).exists():
            continue
        charter = Charter.objects.get(partner__slug=slug)
        window = terms_of(charter.active_version).window if charter.active_version else None
        if window is None:
            continue
        grant = grant_request(
            partner=Partner.objects.get(pk=principal.organisation_id),
            asset_version=version,
            principal=principal,
            actions=actions,
            purposes=purposes,
            valid_from=window.starts,
            valid_until=window.ends,
            justification="Demo access for the gateway.",
            by=actor_for(admin),
            daily_quota=DEMO_LIMITS["daily_quota"],
            monthly_quota=DEMO_LIMITS["monthly_quota"],
            rate_per_minute=DEMO_LIMITS["rate_per_minute"],
        )
        grant_approve(grant=grant, by=actor_for(approver))
        result.created.append(f"grant #{grant.pk} for {principal.username}")
    return examples


# (partner, asset, version, file name): a small delivery per partner, kept encrypted in the artefact store, so
# that an exit of the demo charters has something to crypto-shred and certify.
DEMO_DELIVERIES = [
    ("northwind", "atlas-7b", "1.0", "atlas-7b-1.0-eval-endpoint.json"),
    ("helix", "clinical-notes-deid", "2026-09", "clinical-notes-deid-2026-09-sample.jsonl"),
]


def _deliveries(result: SeedResult) -> None:
    for slug, asset_name, label, file_name in DEMO_DELIVERIES:
        partner = Partner.objects.get(slug=slug)
        if Artefact.objects.filter(partner=partner, name=file_name).exists():
            continue
        content = json.dumps({"demo": True, "asset": asset_name, "version": label, "for": slug}).encode()
        artefact_store(
            source=io.BytesIO(content),
            name=file_name,
            kind=Artefact.Kind.DELIVERY,
            asset_version=AssetVersion.objects.get(asset__name=asset_name, label=label),
            partner=partner,
            by=SEEDER,
        )
        result.created.append(f"delivery {file_name}")


@dataclass
class Registry:
    """The demo's people and assets, as seed_demo and the policy test cases build on them."""

    host_people: dict[str, User]
    partner_people: dict[str, dict[str, User]]


def seed_registry(result: SeedResult) -> Registry:
    """The host, its officers and auditor, the partners with an admin and a principal each, and the assets."""
    host = Organisation.objects.filter(kind=Organisation.Kind.HOST).first()
    if host is None:
        host = host_organisation_ensure(name=settings.ACCORD_HOST_ORGANISATION, by=SEEDER)
        result.created.append(f"host organisation {host.name}")

    host_people = {
        key: _person(result, username=username, full_name=name, role=role, organisation=host)
        for key, username, name, role in HOST_PEOPLE
    }

    partners: dict[str, Partner] = {}
    partner_people: dict[str, dict[str, User]] = {}
    for slug, name, admin_name in PARTNERS:
        partner = Partner.objects.filter(slug=slug).first()
        if partner is None:
            partner = partner_create(name=name, slug=slug, by=SEEDER)
            result.created.append(f"partner {name}")
        partners[slug] = partner
        partner_people[slug] = {
            "admin": _person(
                result, username=f"{slug}-admin", full_name=admin_name, role=Role.PARTNER_ADMIN, organisation=partner
            ),
            "principal": _person(
                result, username=f"{slug}-gateway", full_name="", role=Role.PARTNER_PRINCIPAL, organisation=partner
            ),
        }

    for owner_slug, name, kind, description, versions in ASSETS:
        owner = host if owner_slug is None else partners[owner_slug]
        asset = Asset.objects.filter(owner=owner, name=name).first()
        if asset is None:
            asset = asset_register(name=name, kind=kind, owner=owner, description=description, by=SEEDER)
            result.created.append(f"asset {name}")
        for label, classification, size in versions:
            if not AssetVersion.objects.filter(asset=asset, label=label).exists():
                asset_version_register(
                    asset=asset,
                    label=label,
                    fingerprint=demo_fingerprint(name, label),
                    size_bytes=size,
                    classification=classification,
                    storage_uri=f"s3://accord-demo/{name}/{label}",
                    by=SEEDER,
                )
                result.created.append(f"version {name} {label}")

    return Registry(host_people=host_people, partner_people=partner_people)


@transaction.atomic
def seed_demo(*, with_tokens: bool) -> SeedResult:
    result = SeedResult()
    registry = seed_registry(result)
    host_people, partner_people = registry.host_people, registry.partner_people
    _charters(result, officer=host_people["officer"], approver=host_people["second_officer"], people=partner_people)
    examples = _grants(result, approver=host_people["officer"], people=partner_people)
    _deliveries(result)

    if with_tokens:
        result.tokens = {key: _demo_token(user) for key, user in host_people.items()}
        result.tokens["partners"] = {
            slug: {
                **{role: _demo_token(user) for role, user in people.items()},
                "allowed_example": examples[slug],
            }
            for slug, people in partner_people.items()
        }
    return result
