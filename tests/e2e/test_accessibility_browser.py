"""Accessibility, checked by axe-core (vendored from npm: tests/e2e/vendor/) in Chromium, on every page the
authorization matrix lets each role open: labels, names, keyboard use, contrast, landmarks. A serious or critical
violation on any page fails the test, which lists each with the page, the rule and the elements.

The pages are every GET address of the URL patterns that answers HTML (files, CSV and JSON downloads are not
pages), with objects of a small live world in their parameters: a new page joins by its route, as in the
cross-tenant suite. axe runs through the DevTools protocol, which the page's CSP does not govern; the pages
themselves still load under the strict CSP, and a refusal fails the test (tests/e2e/browser.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page

from accounts import matrix
from accounts.models import User
from accounts.proposals import proposal_make
from accounts.services import actor_for
from audit import chain
from audit.exports import export_queue
from charters.models import CharterVersion
from governance.attestation.measurements import measurement_add, measurement_list_create, measurement_remove
from governance.exits.services import exit_run, exit_start
from governance.incidents.services import incident_declare
from governance.models import DestructionCertificate, Grant, PolicyBundle
from governance.policy.bundles import bundles_record
from governance.reviews.services import review_start
from governance.usage.services import usage_rollup
from governance.vault import artefacts
from governance.vault.destruction import destructions_run
from governance.whatif.services import whatif_request, whatif_run
from tests.conftest import committing
from tests.e2e.browser import Browse, log_in
from tests.helpers import every_route, second_officer_confirming, used
from tests.world import activate

pytestmark = [pytest.mark.browser, committing]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
BLOCKING = ("serious", "critical")
# Addresses that answer no page of their own: downloads, the QR image, the passkey script's catalogue, the health
# check's JSON, the second-factor steps (a person who gave it is sent on), the API (JSON, and its Swagger page's
# markup is Swagger UI's) and the Django admin (its own markup).
NOT_PAGES = {
    "review-report", "exit-report", "artefact-download", "audit:export-download", "accounts:totp-qr",
    "otp_webauthn:js-i18n-catalog", "healthz", "accounts:verify", "accounts:enrol", "accounts:recovery-codes",
    "admin-login", "schema",
}  # fmt: skip


@pytest.fixture
def world(
    live_charter: CharterVersion,
    make_grant: Callable[..., Grant],
    make_request: Callable[..., Grant],
    charter_text: Callable[..., str],
    officer: User,
    second_officer: User,
    a_principal: User,
    a_admin: User,
    b_admin: User,
    partner_b: Any,
    demo_registry: dict[str, Any],
    atlas: str,
) -> dict[str, dict[str, Any]]:
    """One object of each kind a page names: Northwind's collaboration live, Helix's ended by an exit."""
    charter = live_charter.charter
    make_grant(daily_quota=50)
    used(a_principal, atlas, 4)
    used(a_principal, atlas, 1, action="fine_tune")
    chain.seal()
    usage_rollup()
    bundles_record()
    bundle = PolicyBundle.objects.order_by("-seq").first()
    review = review_start(charter=charter, by=actor_for(officer))
    incident = incident_declare(charter=charter, title="Unusual use", severity="high", summary="A spike.",
                                by=actor_for(officer))  # fmt: skip
    proposal = proposal_make(kind="charter_end", target=charter.slug, reason="A test.", by=actor_for(officer))
    replay = whatif_run(whatif_request(by=actor_for(officer), days=7, grant=make_request(purposes=["benchmarking"])).pk)
    export = export_queue(by=actor_for(a_admin), requested_by=str(a_admin.pk), scope="northwind", fmt="jsonl",
                          since=None, until=None)  # fmt: skip
    helix = activate(charter_text(name="helix-finetune"), officer, second_officer, accept_by=b_admin)
    weights = io.BytesIO(b"weights")
    atlas_version = demo_registry["atlas-7b 1.0"]
    artefacts.artefact_store(source=weights, name="model.bin", kind="delivery", asset_version=atlas_version,
                             partner=partner_b, by=actor_for(officer))  # fmt: skip
    with second_officer_confirming("charter_end"):
        exit_ = exit_run(exit_start(charter=helix.charter, by=actor_for(officer), reason="Finished.").pk)
    destructions_run(now=timezone.now() + timedelta(days=800))
    certificate = DestructionCertificate.objects.first()
    allow_list = measurement_list_create(officer=officer, name="atlas-serving", title="Atlas in enclaves")
    retired = measurement_add(officer=officer, allow_list=allow_list, platform="snp",
                              values={"launch_measurement": "ab" * 48}, note="image 1.1")  # fmt: skip
    measurement_add(officer=officer, allow_list=allow_list, platform="nitro",
                    values={f"pcr{index}": f"{index:02x}" * 48 for index in range(3)}, note="image 1.2")  # fmt: skip
    measurement_remove(officer=officer, entry=retired, reason="Image 1.1 is retired.")
    assert bundle is not None and certificate is not None
    return {  # by the kind of object the matrix says an address names
        "charter": {"slug": charter.slug},
        "charter version": {"slug": charter.slug, "number": live_charter.number},
        "review": {"pk": review.pk},
        "incident": {"pk": incident.pk},
        "proposal": {"pk": proposal.pk},
        "what-if": {"pk": replay.pk},
        "bundle": {"ref": str(bundle.seq)},
        "exit": {"pk": exit_.pk},
        "certificate": {"number": certificate.number},
        "asset": {"pk": atlas_version.asset_id},
        "export": {"pk": export.pk},
        "measurement list": {"name": allow_list.name},
    }


def pages(world: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(url name, path) of every HTML page a GET reaches, with the world's object of the kind it names."""
    found = []
    for name, parameters in every_route():
        entry = matrix.access_for(name)
        if entry is None or "GET" not in entry.methods or name in NOT_PAGES or name.startswith(("admin:", "api")):
            continue
        assert not parameters or entry.names in world, f"{name} names a {entry.names!r}: add one to the world"
        kwargs = {param: world[entry.names][param] for param in parameters}
        found.append((name, reverse(name, kwargs=kwargs)))
    return found


def violations(page: Page) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        for violation in found
        if violation["impact"] in BLOCKING
    ]


def test_no_page_of_any_role_has_a_serious_or_critical_accessibility_violation(
    browse: Browse, world: dict[str, dict[str, Any]], officer: User, auditor: User, a_admin: User, b_admin: User
) -> None:
    addresses = pages(world)
    problems: list[str] = []
    checked = 0
    with browse() as page:  # a visitor: the login page
        page.goto("/login/")
        problems += violations(page)
    for persona in (officer, auditor, a_admin, b_admin):
        with browse() as page:
            log_in(page, persona)
            for name, path in addresses:
                response = page.goto(path)
                if response is None or "text/html" not in (response.headers.get("content-type") or ""):
                    continue
                checked += 1
                problems += [f"{persona.username} {name} {problem}" for problem in violations(page)]
    assert checked > 80, checked  # every role opened its pages (and the refusal and not-found pages)
    assert problems == [], "\n".join(problems)
