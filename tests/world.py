"""The fixture world, as a pytest plugin (tests/conftest.py names it in ``pytest_plugins``) so every folder's tests
share it: a registry like the demo's, the example charters valid for the run's charter window (tests/conftest.py)
rather than for the dates the files name, and a live collaboration for decision tests: Northwind's charter active
and accepted, and grants for A's principal.

Its plain helpers (``example``, ``activate``, ``in_review``, ``CHARTER_FROM``/``CHARTER_UNTIL``) are imported from
here; its fixtures are simply asked for.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from accounts.services import actor_for
from charters.services.charters import (
    charter_acknowledge,
    charter_apply,
    charter_version_approve,
    charter_version_submit,
)
from governance.grants.services import grant_approve, grant_request
from governance.models import PolicyBundle
from governance.ops.demo import ASSETS, demo_fingerprint
from governance.policy import bundles
from governance.vault import artefacts
from tests.conftest import RUN_CHARTER_WINDOW
from tests.factories import AssetFactory, AssetVersionFactory, example

# The live charter's window as a grant may span it, for tests that place a grant's window inside, before or after it.
CHARTER_FROM = RUN_CHARTER_WINDOW.valid_from
CHARTER_UNTIL = RUN_CHARTER_WINDOW.valid_until


# --- The registry and the example charters ------------------------------------------------------------------


@pytest.fixture
def demo_registry(host, partner_a, partner_b):
    owners = {None: host, "northwind": partner_a, "helix": partner_b}
    versions = {}
    for owner, name, kind, _, labels in ASSETS:
        asset = AssetFactory(owner=owners[owner], name=name, kind=kind)
        for label, classification, size in labels:
            versions[f"{name} {label}"] = AssetVersionFactory(
                asset=asset,
                label=label,
                classification=classification,
                size_bytes=size,
                fingerprint=demo_fingerprint(name, label),
            )
    return versions


@pytest.fixture
def charter_text(demo_registry, charter_window) -> Callable[..., str]:
    """The Northwind example as YAML text, valid for the run's window, after ``change`` edits its parsed form."""

    def make(change: Callable[[dict[str, Any]], None] | None = None, name: str = "northwind-evaluation") -> str:
        document = example(name, window=charter_window)
        if change is not None:
            change(document)
        return yaml.safe_dump(document, sort_keys=False)

    return make


# --- A live collaboration -----------------------------------------------------------------------------------


def activate(text, officer, second_officer, *, accept_by=None):
    version = charter_apply(text=text, by=actor_for(officer))
    charter_version_submit(version=version, by=actor_for(officer))
    version = charter_version_approve(version=version, by=actor_for(second_officer))
    if accept_by is not None:
        charter_acknowledge(
            version=version,
            trainings_confirmed=[training["name"] for training in version.document.get("trainings", [])],
            by=actor_for(accept_by),
        )
    return version


def in_review(document, officer):
    """``document`` applied by ``officer`` as a new charter version and submitted for review."""
    version = charter_apply(text=yaml.safe_dump(document, sort_keys=False), by=actor_for(officer))
    return charter_version_submit(version=version, by=actor_for(officer))


@pytest.fixture
def live_charter(charter_text, officer, second_officer, a_admin):
    return activate(charter_text(), officer, second_officer, accept_by=a_admin)


@pytest.fixture
def make_request(live_charter, demo_registry, a_admin, a_principal, charter_window):
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
            "by": actor_for(a_admin),
        }
        fields.update(overrides)
        return grant_request(**fields)

    return make


@pytest.fixture
def make_grant(make_request, officer):
    """A grant requested by A's admin and approved by Olivia."""

    def make(**overrides):
        return grant_approve(grant=make_request(**overrides), by=actor_for(officer))

    return make


@pytest.fixture
def atlas(demo_registry):
    return demo_registry["atlas-7b 1.0"].fingerprint


@pytest.fixture
def fresh_usage_counters(settings):
    """Grant ids repeat across test databases, so counters left in a real Redis by one test must not count
    against the next one. (Autouse for tests/governance/, through its conftest.)"""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{settings.ACCORD_REDIS_PREFIX}usage:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def before(make_grant):
    """Two grants active in a recorded bundle; the policy then changes."""
    kept = make_grant(purposes=["safety-evaluation"])
    doomed = make_grant(actions=["evaluate"], purposes=["benchmarking"])
    bundles.bundles_record()
    return kept, doomed, PolicyBundle.objects.first()


# --- Stored artefacts, for exits ------------------------------------------------------------------------------


@pytest.fixture
def store(officer):
    def make(kind, *, asset_version=None, partner=None, content=b"weights and outputs"):
        return artefacts.artefact_store(
            source=io.BytesIO(content),
            name=f"{kind}.bin",
            kind=kind,
            asset_version=asset_version,
            partner=partner,
            by=actor_for(officer),
        )

    return make


@pytest.fixture
def northwind_holdings(make_grant, store, demo_registry, partner_a, partner_b):
    """Two grants, a model and a dataset delivered to Northwind, its own suite held here, an evaluation output;
    and a copy of the model delivered to Helix, which Northwind's exit must not touch."""
    return {
        "grants": [make_grant(), make_grant(purposes=["benchmarking"])],
        "model": store("delivery", asset_version=demo_registry["atlas-7b 1.0"], partner=partner_a),
        "dataset": store("delivery", asset_version=demo_registry["clinical-notes-deid 2026-09"], partner=partner_a),
        "suite": store("asset_file", asset_version=demo_registry["northwind-eval-suite 1.0"]),
        "output": store("evaluation_output", partner=partner_a),
        "helix_copy": store("delivery", asset_version=demo_registry["atlas-7b 1.0"], partner=partner_b),
    }
