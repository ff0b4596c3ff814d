"""A live collaboration for decision tests: Northwind's charter active and accepted, and a grant for A's principal."""

from __future__ import annotations

import pytest

from accounts.services import actor_for
from charters.services.charters import (
    charter_acknowledge,
    charter_apply,
    charter_version_approve,
    charter_version_submit,
)
from governance.grants.services import grant_approve, grant_request
from tests.charters.conftest import charter_text, demo_registry  # noqa: F401 (fixtures used by these tests)
from tests.conftest import RUN_CHARTER_WINDOW

# The live charter's window as a grant may span it, for tests that place a grant's window inside, before or after it.
CHARTER_FROM = RUN_CHARTER_WINDOW.valid_from
CHARTER_UNTIL = RUN_CHARTER_WINDOW.valid_until


def activate(text, officer, second_officer, *, accept_by=None):
    version = charter_apply(text=text, by=actor_for(officer), author=officer)
    charter_version_submit(version=version, by=actor_for(officer))
    version = charter_version_approve(version=version, approver=second_officer, by=actor_for(second_officer))
    if accept_by is not None:
        charter_acknowledge(
            version=version,
            partner_admin=accept_by,
            trainings_confirmed=[training["name"] for training in version.document.get("trainings", [])],
            by=actor_for(accept_by),
        )
    return version


@pytest.fixture
def live_charter(charter_text, officer, second_officer, a_admin):  # noqa: F811
    return activate(charter_text(), officer, second_officer, accept_by=a_admin)


@pytest.fixture
def make_request(live_charter, demo_registry, a_admin, a_principal, charter_window):  # noqa: F811
    """A grant as A's admin requests it (not approved): Northwind's gateway, atlas-7b 1.0, for the charter's whole
    window unless ``overrides`` say otherwise."""

    def make(**overrides):
        fields = {
            "partner": live_charter.charter.partner,
            "asset_version": demo_registry["atlas-7b 1.0"],
            "principal": a_principal,
            "actions": ["infer", "evaluate"],
            "purposes": ["safety-evaluation", "benchmarking"],
            "valid_from": charter_window.valid_from,
            "valid_until": charter_window.valid_until,
            "daily_quota": 1000,
            "monthly_quota": 10000,
            "rate_per_minute": 1000,
            "justification": "Safety evaluation runs.",
            "requested_by": a_admin,
            "by": actor_for(a_admin),
        }
        fields.update(overrides)
        return grant_request(**fields)

    return make


@pytest.fixture
def make_grant(make_request, officer):
    """A grant requested by A's admin and approved by Olivia."""

    def make(**overrides):
        return grant_approve(grant=make_request(**overrides), approver=officer, by=actor_for(officer))

    return make


@pytest.fixture
def atlas(demo_registry):  # noqa: F811
    return demo_registry["atlas-7b 1.0"].fingerprint


@pytest.fixture(autouse=True)
def _fresh_usage_counters(settings):
    """Grant ids repeat across test databases, so counters left in a real Redis by one test must not count
    against the next one."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{settings.ACCORD_REDIS_PREFIX}usage:*"))
        if keys:
            client.delete(*keys)
        client.close()
