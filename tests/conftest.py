"""Shared fixtures: the personas every test speaks of, and the gate for tests that need real services.

Tests marked ``postgres`` or ``redis`` run whenever DATABASE_URL / REDIS_URL point at them. Outside CI, without
them, they are skipped with the reason shown; under CI=true a missing service fails the run instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import Organisation, Partner, User
from accounts.roles import Role
from accounts.services import api_token_issue, host_organisation_ensure, partner_create, user_create
from audit.trail import Actor
from governance.decisions.authentication import users as decision_users
from governance.decisions.sessions import sessions_forget
from governance.policy import live
from governance.policy.bundle import forget_documents
from governance.policy.bundles import bundles_forget
from tests.helpers import persona_totp_key

# The fixture world (registry, example charters, a live collaboration) and the browser, for every folder's tests.
pytest_plugins = ["tests.world", "tests.e2e.browser", "tests.secrets_watch", "tests.attestation_kit"]

TEST_PASSWORD = "correct horse battery staple"

# For tests whose work happens in other threads or processes and so must really commit. Serialized rollback
# puts back what the data migrations wrote (role groups, beat schedules) after the table flush, so the tests
# that run later still find them; every committing test uses it, or a flush without it would leave the
# restored rows clashing with the ones post_migrate re-creates.
committing = pytest.mark.django_db(transaction=True, serialized_rollback=True)
# Setting up a test's world is the operator's work: a system actor named as the operator's commands are, which the
# operation table lets do everything (accounts/operations.py).
SETUP = Actor.system("manage.py test-setup")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    if not _in_ci():
        return
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"CI=true but {' and '.join(missing)} not set: CI runs against real PostgreSQL and Redis (see .ci/run)."
        )
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("CI=true needs DATABASE_URL to point at PostgreSQL.")


@functools.cache
def redis_unavailable_reason() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return "REDIS_URL is not set: Redis tests run only against a real Redis"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"REDIS_URL is set but Redis does not answer: {error}"
    finally:
        client.close()
    return None


def postgres_unavailable_reason() -> str | None:
    if connection.vendor != "postgresql":
        return "DATABASE_URL does not point at PostgreSQL: PostgreSQL tests run only against a real one"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reasons = []
    if item.get_closest_marker("redis"):
        reasons.append(redis_unavailable_reason())
    if item.get_closest_marker("postgres"):
        reasons.append(postgres_unavailable_reason())
    for reason in filter(None, reasons):
        if _in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Personas' passwords hashed with few iterations (tests/hashers.py says why)."""
    from django.conf import settings
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["tests.hashers.FastPBKDF2PasswordHasher", *settings.PASSWORD_HASHERS]):
        yield


@pytest.fixture(autouse=True)
def _plain_static_files(settings: object) -> None:
    # Pages are rendered without `collectstatic`; the manifest storage would refuse to name unhashed files.
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_policy_snapshot() -> Iterator[None]:
    """Each test's database starts its own policy feed, so no test decides from a snapshot an earlier one left.
    (The feed's tokens would catch that too; tests/governance/test_propagation.py shows it.)"""
    live.forget()
    forget_documents()  # so do charter version ids
    bundles_forget()
    decision_users.clear()  # user ids repeat from one test database to the next
    sessions_forget()
    yield
    live.forget()


@pytest.fixture(autouse=True)
def _own_audit_anchor(settings: Any, tmp_path: Path) -> None:
    """Each test database starts its own chain of checkpoints, so each test has its own anchor file (one left by
    an earlier test would name checkpoints this database never had)."""
    settings.ACCORD_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchor.jsonl"


@pytest.fixture(autouse=True)
def _own_artefact_store(settings: Any, tmp_path: Path) -> None:
    """Encrypted artefacts go to the test's own folder (the storage is re-created when STORAGES changes)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "artefacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "artefacts"},
        },
    }


# --- Personas ---------------------------------------------------------------------------------------------
# Olivia and Oscar are officers, Audrey the auditor; partner A (Northwind) and partner B (Helix) each have an
# admin and a principal. An access test reads as "A's admin gets 404 on B's asset".


@pytest.fixture
def host(db: None) -> Organisation:
    return host_organisation_ensure(name="Meridian AI", by=SETUP)


@pytest.fixture
def partner_a(db: None) -> Partner:
    return partner_create(name="Northwind Labs", slug="northwind", by=SETUP)


@pytest.fixture
def partner_b(db: None) -> Partner:
    return partner_create(name="Helix Bio", slug="helix", by=SETUP)


def _make(username: str, organisation: Organisation, role: Role) -> User:
    """A persona as production has them: a password and, for people, an authenticator app enrolled (its secret
    is the persona's, tests/helpers.py persona_code, so that browser tests can type its codes)."""
    user = user_create(
        username=username,
        organisation=organisation,
        role=role,
        by=SETUP,
        password=TEST_PASSWORD,
        email=f"{username}@x.example",
    )
    if not user.is_service:
        from tests.secrets_watch import remember  # a plugin of this conftest's: imported once pytest has it

        key = persona_totp_key(username)
        remember(key)
        remember(bytes.fromhex(key))
        TOTPDevice.objects.create(user=user, name="test authenticator", key=key, confirmed=True)
    return user


@pytest.fixture
def officer(host: Organisation) -> User:
    return _make("olivia", host, Role.OFFICER)


@pytest.fixture
def second_officer(host: Organisation) -> User:
    return _make("oscar", host, Role.OFFICER)


@pytest.fixture
def auditor(host: Organisation) -> User:
    return _make("audrey", host, Role.AUDITOR)


@pytest.fixture
def a_admin(partner_a: Partner) -> User:
    return _make("northwind-admin", partner_a, Role.PARTNER_ADMIN)


@pytest.fixture
def a_principal(partner_a: Partner) -> User:
    return _make("northwind-gateway", partner_a, Role.PARTNER_PRINCIPAL)


@pytest.fixture
def b_admin(partner_b: Partner) -> User:
    return _make("helix-admin", partner_b, Role.PARTNER_ADMIN)


@pytest.fixture
def b_principal(partner_b: Partner) -> User:
    return _make("helix-gateway", partner_b, Role.PARTNER_PRINCIPAL)


# --- The charter window -------------------------------------------------------------------------------------
# The fixture charters are valid around the day the suite runs, so that no test goes stale when the calendar moves.


@dataclass(frozen=True)
class CharterWindow:
    """A charter's validity window, as whole days. A grant may run from midnight (UTC) of the first day to midnight
    of the last, as grant_request reads a charter's ``validity``; the charter expires the day after the last."""

    first_day: date
    last_day: date

    @classmethod
    def around(cls, today: date) -> CharterWindow:
        """A year from the first of the month three months before ``today``'s: at least three months before today
        and eight after, so a test may step days or months either way and stay inside."""
        months = today.year * 12 + today.month - 1 - 3
        first_day = date(months // 12, months % 12 + 1, 1)
        return cls(first_day=first_day, last_day=first_day.replace(year=first_day.year + 1) - timedelta(days=1))

    @property
    def valid_from(self) -> datetime:
        return datetime.combine(self.first_day, time(), tzinfo=UTC)

    @property
    def valid_until(self) -> datetime:
        return datetime.combine(self.last_day, time(), tzinfo=UTC)

    def validity(self) -> dict[str, str]:
        """The window as a charter document's ``validity``."""
        return {"from": self.first_day.isoformat(), "until": self.last_day.isoformat()}


# Once per run, when the suite starts: a run that crosses midnight at a month's end keeps the window it began with.
RUN_CHARTER_WINDOW = CharterWindow.around(datetime.now(UTC).date())


@pytest.fixture
def charter_window() -> CharterWindow:
    """The fixture charters' window; a module that moves the clock before the world is built overrides it."""
    return RUN_CHARTER_WINDOW


@dataclass
class Caller:
    """An API client that authenticates as ``user`` with a real bearer token."""

    user: User
    token: str
    client: APIClient


@pytest.fixture
def api_as(db: None):
    def make(user: User) -> Caller:
        _, raw = api_token_issue(user=user, name=f"test token {user.username}", by=SETUP)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return Caller(user=user, token=raw, client=client)

    return make
