"""The policy pages name what their lines name: principals and roles by name, asset versions by name and version,
charters and grants linked to their pages, each raw line one click away. One query per kind of name for the whole
page, and only names the reader may see."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.services import actor_for
from charters.models import AssetVersion
from governance.grants.roles import partner_role_add_member, partner_role_remove_member
from governance.grants.services import grant_suspend
from governance.models import PartnerRole, PolicyBundle
from governance.policy import bundles, rollback
from governance.policy.names import LineNames
from tests.conftest import SETUP
from tests.factories import AssetFactory
from tests.helpers import sign_in
from tests.world import activate

RAW_LINE = re.compile(r'<details class="raw-line">.*?</details>', re.DOTALL)


def outside_raw_lines(page: str) -> str:
    """The page without its raw-line disclosures: what a reader sees before clicking."""
    return RAW_LINE.sub("", page)


@pytest.fixture
def officer_client(client, officer):
    sign_in(client, officer)
    return client


@pytest.fixture
def changed(make_grant, partner_a, a_principal, a_admin):
    """A recorded policy with a principal's grant and a role's, then one suspended: bundles with lines added and
    removed."""
    bundles.bundles_record()
    first = PolicyBundle.objects.first()
    grant = make_grant()
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    partner_role_add_member(role=role, principal=a_principal, by=actor_for(a_admin))
    make_grant(principal=None, partner_role=role, purposes=["benchmarking"])
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")
    bundles.bundles_record()
    return first, PolicyBundle.objects.first(), grant


def test_the_bundle_page_names_principals_roles_and_assets_with_the_raw_line_one_click_away(
    officer_client, changed, a_principal, demo_registry
):
    _, newest, _ = changed
    page = officer_client.get(f"/governance/bundles/{newest.seq}/").content.decode()
    shown = outside_raw_lines(page)
    assert "user:" not in shown and "role:" not in shown
    assert "northwind-gateway" in shown and "role eval-jobs" in shown
    atlas = demo_registry["atlas-7b 1.0"]
    assert f'<a href="/registry/assets/{atlas.asset_id}/">atlas-7b 1.0</a>' in shown
    assert atlas.fingerprint not in shown
    assert '<a href="/registry/charters/northwind-evaluation/">northwind-evaluation</a>' in shown
    raw = "".join(RAW_LINE.findall(page))
    assert f"p, user:{a_principal.pk}, northwind-evaluation, {atlas.fingerprint}, infer" in raw
    assert f"g, user:{a_principal.pk}, role:" in raw


def test_the_bundle_pages_link_the_grant_each_change_was_to(officer_client, changed):
    _, newest, grant = changed
    listing = officer_client.get("/governance/bundles/").content.decode()
    assert f'<a href="/grants/?grant={grant.pk}">grant #{grant.pk}</a>' in listing
    assert f"#{grant.pk}</td>" not in listing
    detail = officer_client.get(f"/governance/bundles/{newest.seq}/").content.decode()
    assert f'(<a href="/grants/?grant={grant.pk}">grant #{grant.pk}</a>' in detail


def test_the_bundle_diff_shows_added_lines_green_and_removed_ones_red_by_name(officer_client, changed):
    first, newest, _ = changed
    page = officer_client.get(f"/governance/bundles/diff/?from={first.seq}&to={newest.seq}").content.decode()
    rows = re.findall(r"<tr><td class=\"(diff_add|diff_sub)\">([^<]*)</td>", page)
    assert {tint for tint, _ in rows} == {"diff_add"}  # from nothing: every line is new
    assert all(words == "+ added" for _, words in rows)
    back = officer_client.get(f"/governance/bundles/diff/?from={newest.seq}&to={first.seq}").content.decode()
    assert {tint for tint, _ in re.findall(r"<tr><td class=\"(diff_add|diff_sub)\">([^<]*)</td>", back)} == {"diff_sub"}
    assert "- removed" in back
    assert "user:" not in outside_raw_lines(page) and "northwind-gateway" in page


def test_a_suspension_shows_its_allow_lines_removed_and_deny_lines_added(officer_client, make_grant):
    bundles.bundles_record()
    grant = make_grant()
    bundles.bundles_record()
    before = PolicyBundle.objects.first()
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")
    bundles.bundles_record()
    after = PolicyBundle.objects.first()
    page = officer_client.get(f"/governance/bundles/diff/?from={before.seq}&to={after.seq}").content.decode()
    added = re.findall(r'<td class="diff_add"><span class="badge [a-z]+">(allow|deny)</span>', page)
    removed = re.findall(r'<td class="diff_sub"><span class="badge [a-z]+">(allow|deny)</span>', page)
    assert set(added) == {"deny"} and set(removed) == {"allow"} and len(added) == len(removed) == 4


def test_the_explanation_names_its_lines_subjects_and_asset(officer_client, api_as, a_principal, make_grant, atlas):
    make_grant()
    answer = api_as(a_principal).client.post(
        "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}, format="json"
    )
    bundles.bundles_record()
    page = officer_client.get(f"/governance/decisions/explain/?decision={answer.json()['decision_id']}")
    shown = outside_raw_lines(page.content.decode())
    assert "user:" not in shown and atlas not in shown
    assert "atlas-7b 1.0" in shown and "northwind-gateway" in shown
    assert f"user:{a_principal.pk}" in page.content.decode()  # in the raw line, one click away


# --- One query per kind ---------------------------------------------------------------------------------------


def _principals(partner, count):
    return User.objects.bulk_create(
        User(username=f"job-{count}-{n}", organisation=partner, is_service=True) for n in range(count)
    )


def _versions(owner, count):
    asset = AssetFactory(owner=owner, name=f"model-{count}")
    return AssetVersion.objects.bulk_create(
        AssetVersion(
            asset=asset,
            label=f"{n}.0",
            fingerprint=f"{count:08x}{n:056x}",
            size_bytes=1,
            classification=AssetVersion.Classification.SHAREABLE,
            storage_uri=f"s3://models/{n}",
        )
        for n in range(count)
    )


def _bundle_of(count, *, after, charter, partner, role):
    """A bundle ``count`` lines larger than ``after``, each for another principal and asset version."""
    principals, versions = _principals(partner, count), _versions(partner, count)
    added = [
        ["p", f"user:{principal.pk}", charter, version.fingerprint, "infer", "safety-evaluation", "allow"]
        for principal, version in zip(principals, versions, strict=True)
    ]
    added += [["g", f"user:{principals[0].pk}", f"role:{role.pk}", charter]]
    return PolicyBundle.objects.create(
        seq=after.seq + count,
        hash=f"{count:064x}",
        parent=after,
        change_kind="grant",
        change_object=1,
        changed_at=timezone.now(),
        added=added,
        line_count=after.line_count + len(added),
    )


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def test_the_bundle_pages_cost_the_same_queries_at_ten_lines_as_at_two_hundred(officer_client, live_charter):
    bundles.bundles_record()
    first = PolicyBundle.objects.get()
    charter = live_charter.charter
    role = PartnerRole.objects.create(partner=charter.partner, slug="eval-jobs")
    small = _bundle_of(10, after=first, charter=charter.slug, partner=charter.partner, role=role)
    large = _bundle_of(200, after=small, charter=charter.slug, partner=charter.partner, role=role)
    for url in ("/governance/bundles/{seq}/", f"/governance/bundles/diff/?from={first.seq}&to={{seq}}"):
        few, small_page = queries(officer_client, url.format(seq=small.seq))
        many, large_page = queries(officer_client, url.format(seq=large.seq))
        # Each line names its principal: 10 lines and a role's member, then 200 more and another member.
        assert outside_raw_lines(small_page).count(">job-") == 10 + 1
        assert outside_raw_lines(large_page).count(">job-") == 10 + 1 + 200 + 1
        assert many == few, url


# --- Only what the reader may see -----------------------------------------------------------------------------


def test_a_partner_admin_is_never_told_another_partners_principal_or_role_names(
    a_admin, a_principal, b_principal, partner_b
):
    helix_role = PartnerRole.objects.create(partner=partner_b, slug="helix-jobs")
    lines = [
        ("p", f"user:{a_principal.pk}", "northwind-evaluation", "0" * 64, "infer", "x", "allow"),
        ("p", f"user:{b_principal.pk}", "helix-evaluation", "1" * 64, "infer", "x", "allow"),
        ("g", f"user:{b_principal.pk}", f"role:{helix_role.pk}", "helix-evaluation"),
    ]
    named = LineNames.of(lines, viewer=a_admin)
    assert named.subject(f"user:{a_principal.pk}").label == "northwind-gateway"
    shown = [named.show(line) for line in lines[1:]]
    labels = {line.subject.label for line in shown} | {shown[1].role.label}
    assert "helix-gateway" not in str(shown) and "helix-jobs" not in str(shown)
    assert labels == {"a principal you cannot see", "a role you cannot see"}


# --- The rollback's plan --------------------------------------------------------------------------------------


def test_the_rollback_plan_names_charter_versions_and_removed_members(
    officer_client, before, make_grant, charter_text, officer, second_officer, partner_a, a_principal, a_admin
):
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    partner_role_add_member(role=role, principal=a_principal, by=actor_for(a_admin))
    make_grant(principal=None, partner_role=role, purposes=["benchmarking"])
    bundles.bundles_record()
    bundle = PolicyBundle.objects.first()
    partner_role_remove_member(role=role, principal=a_principal, by=actor_for(a_admin))

    def retitled(document):
        document["title"] = "Northwind evaluation, second year"

    activate(charter_text(retitled), officer, second_officer)  # version 2, active, not yet accepted
    plan = rollback.rollback_plan(bundle)
    why = {item.what: item.why for item in plan.unrestored}
    assert "version id" not in str(why) and "user ids" not in str(why)
    assert why["charter northwind-evaluation"].startswith(
        "it is active on northwind-evaluation v2 (not yet accepted) now and was active on northwind-evaluation v1 "
        "(accepted) then"
    )
    assert why["role northwind/eval-jobs"].startswith("members removed since: northwind-gateway")
    page = officer_client.get(f"/governance/bundles/{bundle.seq}/rollback/").content.decode()
    assert '<a href="/registry/charters/northwind-evaluation/v2/">northwind-evaluation v2</a>' in page
    assert '<a href="/registry/charters/northwind-evaluation/">charter northwind-evaluation</a>' in page
