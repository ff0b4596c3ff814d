"""The partner portal in Chromium: a partner admin watches their quota fall as their principal decides, answers the
incident step the playbook gives them, attests their exit on its page (asked to confirm first), and the other
partner's admin gets a 404 for each of those pages.

As in every browser test, the ORM and the API client run only between the ``with browse()`` blocks; each block is
a new browser context, so the persona logs in again."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from accounts.models import User
from accounts.services import actor_for
from charters.models import CharterVersion
from governance.exits.services import exit_run, exit_start
from governance.incidents.services import incident_declare
from governance.models import Grant, IncidentStep
from tests.conftest import Caller, committing
from tests.e2e.browser import Browse, confirmations, go, log_in
from tests.helpers import decide, second_officer_confirming

pytestmark = [pytest.mark.browser, committing]


def test_a_partner_admin_follows_their_quota_answers_their_step_and_attests_their_exit_on_the_portal(
    browse: Browse,
    live_charter: CharterVersion,
    make_grant: Callable[..., Grant],
    officer: User,
    a_admin: User,
    a_principal: User,
    b_admin: User,
    atlas: str,
    api_as: Callable[[User], Caller],
) -> None:
    grant = make_grant(daily_quota=10)
    incident = incident_declare(charter=live_charter.charter, title="Unusual use", severity="high",
                                summary="Use far above the grant's usual rate.", by=actor_for(officer))  # fmt: skip
    theirs = IncidentStep.objects.get(incident=incident, owner_role="partner_admin")

    with browse() as page:
        log_in(page, a_admin)
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/portal/$"))
        row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=f"#{grant.pk}", exact=True))
        expect(row).to_contain_text("0 of 10 (10 left)")

    gateway = api_as(a_principal)
    for _ in range(3):
        assert decide(gateway, atlas)["allow"] is True

    with browse() as page:
        log_in(page, a_admin)
        go(page, "Overview")
        row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=f"#{grant.pk}", exact=True))
        expect(row).to_contain_text("3 of 10 (7 left)")
        page.get_by_role("link", name=f"Incident #{incident.pk}, step {theirs.position}: {theirs.title}").click()
        expect(page).to_have_url(re.compile(rf"/portal/incidents/#incident-{incident.pk}$"))
        page.get_by_label("What you did").fill("A benchmark run we forgot to announce; it has ended.")
        page.get_by_role("button", name=f"Answer step {theirs.position}").click()
        expect(page.locator("ul.messages")).to_contain_text(
            f"Step {theirs.position} of incident #{incident.pk} answered"
        )

    theirs.refresh_from_db()
    assert (theirs.status, theirs.done_by) == ("done", a_admin.username)
    with second_officer_confirming("charter_end"):
        exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.").pk)

    with browse() as page:
        log_in(page, a_admin)
        go(page, "Exits")
        page.get_by_role("link", name=re.compile("northwind-evaluation")).first.click()
        expect(page.get_by_role("heading", name="Partner attestation")).to_be_visible()
        for box in page.locator("input[name=destroyed]").all():
            box.check()
        page.get_by_label("Method").fill("cryptographic erase")
        page.get_by_label("Statement").fill("Every copy was erased from our cluster and its backups.")
        page.get_by_role("button", name="Attest destruction").click()
        expect(page.locator("ul.messages")).to_contain_text("Destruction attested")
        assert confirmations(page) and confirmations(page)[0].startswith("Attest that Northwind")
        expect(page.get_by_text(f"{a_admin.username} attested on")).to_be_visible()

    with browse() as page:
        log_in(page, b_admin)
        for path in (f"/governance/exits/{exit_.pk}/", f"/registry/charters/{live_charter.charter.slug}/"):
            page.goto(path)
            expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        page.goto("/portal/incidents/")
        expect(page.get_by_text("Unusual use")).to_have_count(0)
        page.goto("/governance/usage/")
        expect(page.get_by_text("0 allowed, 0 denied")).to_be_visible()
