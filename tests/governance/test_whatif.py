"""What-if replay: exactly the recorded decisions a candidate flips, checked against Casbin's plain Enforcer."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.roles import Role
from accounts.services import actor_for
from audit.models import Event
from charters.models import Charter
from governance.decisions.services import DecisionRequest, decide_batch
from governance.grants.services import grant_approve, grant_request, grant_suspend
from governance.models import Grant
from governance.policy.bundle import enforcer_for, principal_subject
from governance.policy.snapshot import Snapshot
from governance.whatif import services as whatif
from tests.conftest import SETUP, _make
from tests.helpers import sign_in
from tests.world import CHARTER_FROM, activate, example, in_review

ACTIONS = ["infer", "evaluate", "export_outputs"]
PURPOSES = ["safety-evaluation", "benchmarking", "research-evaluation"]


@pytest.fixture
def world(
    make_grant, demo_registry, a_principal, partner_a, partner_b, charter_text, officer, second_officer, b_admin,
    b_principal,
):  # fmt: skip
    """Northwind's and Helix's principals with a mix of grants (one suspended), and a week of their decisions."""
    second = _make("northwind-batch", partner_a, Role.PARTNER_PRINCIPAL)
    atlas, atlas_11 = demo_registry["atlas-7b 1.0"], demo_registry["atlas-7b 1.1"]
    make_grant()
    make_grant(asset_version=atlas_11, actions=["evaluate"], purposes=["benchmarking"])
    make_grant(principal=second, actions=["infer", "export_outputs"], purposes=["benchmarking"])
    suspended = make_grant(principal=second, asset_version=atlas_11, actions=["infer"], purposes=["safety-evaluation"])
    grant_suspend(grant=suspended, by=SETUP, reason="Odd usage.")
    activate(charter_text(name="helix-finetune"), officer, second_officer, accept_by=b_admin)
    helix = grant_request(
        partner=partner_b,
        asset_version=atlas,
        principal=b_principal,
        actions=["infer"],
        purposes=["research-evaluation"],
        valid_from=CHARTER_FROM + timedelta(days=30),
        valid_until=CHARTER_FROM + timedelta(days=200),
        daily_quota=1000,
        monthly_quota=10000,
        rate_per_minute=1000,
        justification="Evaluating the base model.",
        by=actor_for(b_admin),
    )
    grant_approve(grant=helix, by=actor_for(officer))
    rng = random.Random(7)
    assets = [atlas.fingerprint, atlas_11.fingerprint]
    for principal in (a_principal, second, b_principal):
        asked = [
            DecisionRequest(action, asset, purpose) for action in ACTIONS for asset in assets for purpose in PURPOSES
        ]
        decide_batch(principal, [request for request in asked for _ in range(rng.randint(1, 4))])
    return {"second": second, "atlas": atlas}


def amendment(rng: random.Random) -> dict:
    """Northwind's charter with some of its permissions taken away at random."""
    document = example()
    for entry in document["actions"]["model"]:
        if len(entry["purposes"]) > 1 and rng.random() < 0.5:
            entry["purposes"].remove(rng.choice(entry["purposes"]))
    if rng.random() < 0.3:
        document["actions"]["model"] = [e for e in document["actions"]["model"] if e["action"] != "export_outputs"]
    if rng.random() < 0.5 or document == example():
        document["assets"]["shareable"] = [a for a in document["assets"]["shareable"] if a["version"] != "1.1"]
    return document


def casbin_flips(candidate):
    """Each recorded request whose answer from Casbin's Enforcer over the compiled lines changes with the
    candidate: {(partner, principal id, action, asset, purpose): (before, after)} weighted by how often it was asked."""
    before = Snapshot.load()
    after = Snapshot.load()
    candidate.apply(after)
    enforcers = enforcer_for(before.bundle()), enforcer_for(after.bundle())
    domains = list(Charter.objects.values_list("slug", flat=True))
    asked = Counter(
        (event.partner, int(event.actor_id), event.details["action"], event.details["asset"], event.details["purpose"])
        for event in Event.objects.filter(action__startswith="decision.")
    )
    flips = {}
    for key, times in asked.items():
        _, principal, action, asset, purpose = key
        allowed = [
            any(enforcer.enforce(principal_subject(principal), domain, asset, action, purpose) for domain in domains)
            for enforcer in enforcers
        ]
        if allowed[0] != allowed[1]:
            flips[key] = (allowed, times)
    return flips


def reported_flips(report):
    return {
        (partner.partner, example.principal, example.action, example.asset, example.purpose): (
            [example.before == "allow", example.after == "allow"]
        )
        for partner in report.partners
        for example in partner.examples
    }


@pytest.mark.parametrize("seed", range(6))
def test_what_if_flags_exactly_the_decisions_a_generated_amendment_flips(world, officer, seed, monkeypatch):
    monkeypatch.setattr(whatif, "EXAMPLES_PER_PARTNER", 10_000)  # every flip shown, so the sets can be compared
    candidate = whatif.candidate_version(in_review(amendment(random.Random(seed)), officer))
    report = whatif.whatif_replay(candidate, days=7)
    expected = casbin_flips(candidate)
    assert expected  # every generated amendment takes away something a recorded request used
    names = dict(Event.objects.values_list("actor_id", "actor_label"))
    assert reported_flips(report) == {
        (partner, names[str(principal)], action, asset, purpose): allowed
        for (partner, principal, action, asset, purpose), (allowed, _) in expected.items()
    }
    by_partner = {partner.partner: partner for partner in report.partners}
    assert by_partner["northwind"].to_deny == sum(times for (allowed, times) in expected.values() if allowed[0])
    assert by_partner["helix"].flipped == 0  # another partner's charter changed: nothing of Helix's flips
    assert report.replayed == Event.objects.filter(action__startswith="decision.").count()


def test_a_restriction_flips_allows_to_the_deny_that_would_answer(world, officer):
    document = example()
    document["actions"]["model"] = [e for e in document["actions"]["model"] if e["action"] != "export_outputs"]
    report = whatif.whatif_replay(whatif.candidate_version(in_review(document, officer)), days=7)
    northwind = next(partner for partner in report.partners if partner.partner == "northwind")
    assert northwind.to_deny > 0 and northwind.to_allow == 0
    assert {(e.action, e.before, e.after) for e in northwind.examples} == {
        ("export_outputs", "allow", "action_not_permitted")
    }
    assert all(len(e.decision_id) == 32 for e in northwind.examples)


def test_a_requested_grant_flips_the_denies_it_would_allow(world, make_request):
    requested = make_request(
        principal=world["second"], actions=["evaluate"], purposes=["safety-evaluation"], justification="More."
    )
    candidate = whatif.candidate_grant(requested)
    report = whatif.whatif_replay(candidate, days=7)
    expected = casbin_flips(candidate)
    northwind = next(partner for partner in report.partners if partner.partner == "northwind")
    assert northwind.to_allow == sum(times for _, times in expected.values()) > 0 and northwind.to_deny == 0
    assert [(e.principal, e.action, e.purpose, e.after) for e in northwind.examples] == [
        ("northwind-batch", "evaluate", "safety-evaluation", "allow")
    ]
    requested.refresh_from_db()
    assert requested.status == Grant.Status.REQUESTED  # a what-if changes nothing


def test_the_window_decides_what_is_replayed(world, officer):
    candidate = whatif.candidate_version(in_review(amendment(random.Random(1)), officer))
    later = timezone.now() + timedelta(days=3)
    assert (
        whatif.whatif_replay(candidate, days=7, now=later).replayed
        == Event.objects.filter(action__startswith="decision.").count()
    )
    assert whatif.whatif_replay(candidate, days=1, now=later + timedelta(days=2)).replayed == 0


def test_bad_candidates_and_windows_say_what_to_give(world, officer, live_charter, settings):
    with pytest.raises(ValidationError, match="what-if replays a version in review"):
        whatif.candidate_version(live_charter)
    with pytest.raises(ValidationError, match="what-if replays a requested grant"):
        whatif.candidate_grant(Grant.objects.filter(status="active").first())
    candidate = whatif.candidate_version(in_review(amendment(random.Random(1)), officer))
    settings.ACCORD_WHATIF_MAX_DAYS = 30
    for days in (0, 31):
        with pytest.raises(ValidationError, match="between 1 and 30 days"):
            whatif.whatif_replay(candidate, days=days)


# --- Runs: the page for a pending approval, the worker, the terminal ----------------------------------------


def test_an_officer_runs_a_what_if_from_the_pending_version_and_reads_the_report(
    world, officer, second_officer, client, django_capture_on_commit_callbacks
):
    from governance.models import WhatIfRun

    document = example()
    document["actions"]["model"] = [e for e in document["actions"]["model"] if e["action"] != "export_outputs"]
    version = in_review(document, officer)
    sign_in(client, second_officer)
    page = client.get(f"/registry/charters/{version.charter.slug}/v{version.number}/").content.decode()
    assert "Run what-if" in page and "Approve and activate" in page
    with django_capture_on_commit_callbacks() as queued:
        response = client.post("/governance/what-if/", {"version": version.pk, "days": 7})
    run = WhatIfRun.objects.get()
    assert response.url == f"/governance/what-if/{run.pk}/" and len(queued) == 1  # queued for a worker on commit
    waiting = client.get(response.url).content.decode()
    assert "Queued" in waiting and 'http-equiv="refresh"' in waiting

    done = whatif.whatif_run(run.pk)  # what the worker runs
    assert done.status == "done" and done.scanned == done.total > 0
    report = client.get(response.url).content.decode()
    assert "would flip" in report and "export_outputs" in report and "action_not_permitted" in report
    assert 'http-equiv="refresh"' not in report and "?decision=" in report
    assert whatif.whatif_run(run.pk).finished_at == done.finished_at  # a redelivered task leaves it as it is


def test_a_run_whose_change_moved_on_fails_saying_why(world, officer, second_officer):
    from charters.services.charters import charter_version_approve
    from governance.models import WhatIfRun

    version = in_review(amendment(random.Random(2)), officer)
    run = whatif.whatif_request(by=actor_for(officer), days=7, version=version)
    charter_version_approve(version=version, by=actor_for(second_officer))
    failed = whatif.whatif_run(run.pk)
    assert failed.status == WhatIfRun.Status.FAILED and "is Active; what-if replays a version in review" in failed.error


def test_bad_what_if_requests_get_a_message_and_no_run(world, officer, client, a_admin, api_as):
    from governance.models import WhatIfRun

    version = in_review(amendment(random.Random(3)), officer)
    sign_in(client, officer)
    page = f"/registry/charters/{version.charter.slug}/v{version.number}/"
    too_long = client.post("/governance/what-if/", {"version": version.pk, "days": 5000}, follow=True)
    assert too_long.redirect_chain[-1][0] == page and "between 1 and 90 days" in too_long.content.decode()
    nothing = client.post("/governance/what-if/", {"days": 7}, follow=True).content.decode()
    assert "Name one change to replay" in nothing
    active = Grant.objects.filter(status="active").first()
    refused = client.post("/governance/what-if/", {"grant": active.pk, "days": 7}, follow=True).content.decode()
    assert "what-if replays a requested grant" in refused
    assert not WhatIfRun.objects.exists()
    client.logout()
    sign_in(client, a_admin)
    assert client.post("/governance/what-if/", {"version": version.pk, "days": 7}).status_code == 403


def test_policy_whatif_on_a_terminal(world, officer, capsys):
    import json

    from django.core.management import CommandError, call_command

    version = in_review(amendment(random.Random(4)), officer)
    name = f"{version.charter.slug}:{version.number}"
    call_command("policy", "whatif", "--charter", name, "--days", "7")
    out = capsys.readouterr().out
    assert "would flip" in out and "northwind:" in out and "-> " in out
    call_command("policy", "whatif", "--charter", name, "--days", "7", "--json")
    assert json.loads(capsys.readouterr().out)["flipped"] > 0
    with pytest.raises(CommandError, match="between 1 and 90 days"):
        call_command("policy", "whatif", "--charter", name, "--days", "365")
    with pytest.raises(CommandError, match="SLUG:NUMBER"):
        call_command("policy", "whatif", "--charter", "northwind", "--days", "7")
    with pytest.raises(CommandError, match="has no version 9"):
        call_command("policy", "whatif", "--charter", f"{version.charter.slug}:9")
    with pytest.raises(CommandError, match="No grant #999"):
        call_command("policy", "whatif", "--grant", "999")
