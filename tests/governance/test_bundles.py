"""Policy bundles: one per change of the compiled policy, exact even when recorded late, rebuilt from checkpoints,
diffed exactly, shown to officers and auditors only."""

import pytest
from django.core.management import call_command

from accounts.services import actor_for
from audit.models import Event
from charters.services.charters import charter_suspend
from governance.grants.roles import partner_role_add_member, partner_role_remove_member
from governance.grants.services import grant_hold, grant_revoke, grant_suspend
from governance.models import PartnerRole, PolicyBundle
from governance.policy import bundles, live
from governance.policy.selectors import bundle_diff, bundle_lines
from governance.policy.snapshot import compile_bundle
from tests.conftest import SETUP
from tests.helpers import sign_in


def lines_of(compiled):
    return {("p", *line) for line in compiled.policies} | {("g", *line) for line in compiled.groupings}


@pytest.fixture
def history(make_grant, live_charter, partner_a, a_principal, a_admin):
    """A policy changed several times before the recorder runs, with what each change made it."""
    bundles.bundles_record()  # the first bundle: the policy as it stands
    states = []

    def now():
        compiled = compile_bundle()
        states.append((compiled.hash, lines_of(compiled)))

    grant = make_grant()
    now()
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    partner_role_add_member(role=role, principal=a_principal, by=actor_for(a_admin))
    make_grant(principal=None, partner_role=role, purposes=["benchmarking"])
    now()
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly.")
    now()
    partner_role_remove_member(role=role, principal=a_principal, by=actor_for(a_admin))
    now()
    charter_suspend(charter=live_charter.charter, by=SETUP, reason="Audit.")
    now()
    return states


def test_each_change_of_the_compiled_policy_is_one_bundle_even_recorded_late(history):
    bundles.bundles_record()
    recorded = list(PolicyBundle.objects.order_by("seq"))
    # The first bundle, then one per change that altered the lines; each grant approval is one change.
    hashes = [bundle.hash for bundle in recorded]
    for expected_hash, _ in history:
        assert expected_hash in hashes
    assert recorded[-1].hash == history[-1][0] == live.current().bundle_hash
    for bundle in recorded:
        assert bundle.added or bundle.removed or bundle.parent is None
    noted = Event.objects.filter(action="policy.bundle_recorded").order_by("id")
    assert [event.details["hash"] for event in noted] == hashes  # each bundle's activation is in the trail


def test_a_bundle_rebuilt_from_its_checkpoint_and_deltas_holds_exactly_its_lines(history):
    bundles.bundles_record()
    by_hash = {bundle.hash: bundle for bundle in PolicyBundle.objects.all()}
    for expected_hash, expected_lines in history:
        assert bundle_lines(by_hash[expected_hash]) == expected_lines


def test_the_diff_of_two_bundles_is_exact_and_grouped_by_charter(history, live_charter):
    bundles.bundles_record()
    by_hash = {bundle.hash: bundle for bundle in PolicyBundle.objects.all()}
    (old_hash, old_lines), (new_hash, new_lines) = history[0], history[2]
    groups = bundle_diff(by_hash[old_hash], by_hash[new_hash])
    added = {line for group in groups for line in group.added}
    removed = {line for group in groups for line in group.removed}
    assert added == new_lines - old_lines and removed == old_lines - new_lines and added and removed
    assert {(group.charter, group.partner) for group in groups} == {(live_charter.charter.slug, "northwind")}


def test_a_second_run_records_nothing_and_a_restarted_recorder_resumes_exactly(history, make_grant, monkeypatch):
    monkeypatch.setattr(bundles, "CHECKPOINT_EVERY", 2)
    first = bundles.bundles_record()
    assert first >= len(history) and bundles.bundles_record() == 0
    assert PolicyBundle.objects.filter(checkpoint__isnull=False).count() >= 2
    bundles.bundles_forget()  # as after a worker restart
    grant = PolicyBundle.objects.count()
    from governance.models import Grant

    grant_revoke(grant=Grant.objects.filter(status="active").first(), by=SETUP, reason="Done.")
    assert bundles.bundles_record() == 1 and PolicyBundle.objects.count() == grant + 1
    newest = PolicyBundle.objects.first()
    assert newest.hash == compile_bundle().hash
    assert bundle_lines(newest) == lines_of(compile_bundle())


def test_a_change_that_leaves_the_lines_as_they_were_makes_no_bundle(make_grant):
    grant = make_grant()
    bundles.bundles_record()
    grant_suspend(grant=grant, by=SETUP, reason="Under review.")
    grant.refresh_from_db()
    grant_hold(grant=grant, by=SETUP, reason="Incident.")  # already denied: the same deny lines
    assert bundles.bundles_record() == 1


# --- Reading them ---------------------------------------------------------------------------------------------


@pytest.fixture
def recorded(history):
    bundles.bundles_record()
    return PolicyBundle.objects.order_by("seq")


def test_officers_list_show_and_diff_bundles_through_the_api(api_as, officer, recorded):
    caller = api_as(officer)
    listing = caller.client.get("/api/v1/policy/bundles").json()
    assert listing["count"] == recorded.count() and listing["results"][0]["seq"] == recorded.last().seq
    newest = recorded.last()
    shown = caller.client.get(f"/api/v1/policy/bundles/{newest.hash[:12]}").json()
    assert shown["hash"] == newest.hash and shown["line_count"] == newest.line_count
    assert sum(len(lines) for lines in shown["lines"].values()) == newest.line_count
    first = recorded.first()
    diff = caller.client.get(f"/api/v1/policy/bundles/diff?from={first.seq}&to={newest.seq}").json()
    assert diff["from"]["seq"] == first.seq and diff["charters"][0]["partner"] == "northwind"


def test_unknown_bundles_and_missing_sides_say_what_to_give(api_as, auditor, recorded):
    caller = api_as(auditor)
    missing = caller.client.get("/api/v1/policy/bundles/deadbeefdeadbeef")
    assert missing.status_code == 404 and "hash (8 characters or more)" in missing.json()["error"]["message"]
    half = caller.client.get("/api/v1/policy/bundles/diff?from=1")
    assert half.status_code == 400 and set(half.json()["error"]["fields"]) == {"to"}


def test_partners_see_no_bundles(api_as, a_admin, recorded):
    response = api_as(a_admin).client.get("/api/v1/policy/bundles")
    assert response.status_code == 403 and "officers and auditors" in response.json()["error"]["message"]


def test_the_bundle_pages_list_show_and_diff(client, officer, recorded):

    sign_in(client, officer)
    newest, first = recorded.last(), recorded.first()
    assert newest.hash[:16] in client.get("/governance/bundles/").content.decode()
    assert newest.hash in client.get(f"/governance/bundles/{newest.seq}/").content.decode()
    page = client.get(f"/governance/bundles/diff/?from={first.seq}&to={newest.seq}").content.decode()
    assert (
        "+ added" in page or "- removed" in page
    )  # each line by name, coloured (tests/governance/test_policy_names.py)
    assert client.get("/governance/bundles/nothing-like-it/").status_code == 404


def test_policy_bundles_command_records_and_lists(history, capsys):
    call_command("policy", "bundles", "--record", "--limit", "3")
    out = capsys.readouterr().out
    assert "Recorded" in out and out.count(" lines ") == 3


def test_bench_bundles_measures_each_step(capsys):
    import json

    call_command("bench_bundles", "--grants", "200")
    row = json.loads(capsys.readouterr().out)
    assert row["grants"] == 200 and row["lines"] > 0 and row["one_change_delta_lines"] > 0
    assert row["rebuild_from_checkpoint_ms"] > 0 and row["checkpoint_mb"] >= 0


def test_policy_test_asks_a_stored_bundle_and_names_a_failing_case(history, tmp_path, capsys):
    from django.core.management import CommandError

    bundles.bundles_record()
    first_grant_state = PolicyBundle.objects.get(hash=history[0][0])  # the gateway's grant, active
    charter_suspended = PolicyBundle.objects.first()
    case = tmp_path / "case.yaml"
    case.write_text(
        "case: The gateway may infer for a safety evaluation\n"
        "charters:\n  - file: charters/examples/northwind-evaluation.yaml\n"
        "requests:\n  - name: inference is allowed\n    principal: northwind-gateway\n    action: infer\n"
        "    asset: atlas-7b 1.0\n    purpose: safety-evaluation\n    expect: allow\n",
        encoding="utf-8",
    )
    call_command("policy", "test", "--bundle", str(first_grant_state.seq), str(case))
    assert "1 passed, 0 failed" in capsys.readouterr().out
    with pytest.raises(CommandError, match="The gateway may infer for a safety evaluation"):
        call_command("policy", "test", "--bundle", charter_suspended.hash[:12], str(case))
    assert "expected allow, got deny" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No policy bundle"):
        call_command("policy", "test", "--bundle", "feedfacefeedface", str(case))
