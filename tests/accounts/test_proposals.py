"""Four eyes: ending a charter, a rollback, destroying a key now and resetting another's factors are proposed by one
officer and happen only when a second confirms; the proposal says what will happen, lapses, and both names are in
the trail. The acts themselves are tested in their own apps' tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import proposals
from accounts.factors import factors_reset
from accounts.models import Proposal
from accounts.operations import SECOND_OFFICER_REFUSAL
from accounts.services import actor_for
from audit.models import Event
from audit.trail import Actor
from charters.models import Charter
from governance.exits import services as exits
from governance.models import DataKey, Exit
from governance.policy import rollback
from governance.tasks import proposals_lapse
from governance.vault import artefacts, destruction
from tests.helpers import sign_in, status_of


def propose(kind: str, target: str, by, reason: str = "The study is over.") -> Proposal:
    return proposals.proposal_make(kind=kind, target=target, reason=reason, by=actor_for(by))


def confirm(proposal: Proposal, by) -> Proposal:
    return proposals.proposal_confirm(proposal=proposal, by=actor_for(by))


def test_the_other_officers_are_mailed_who_asked_why_what_happens_and_where_to_confirm(
    live_charter, officer, second_officer
):
    from governance.models import OutboxMessage

    proposal = propose("charter_end", live_charter.charter.slug, officer)
    mail = OutboxMessage.objects.get(key=f"proposal-{proposal.pk}-made")
    assert mail.to == [second_officer.email]  # never the proposer: they cannot confirm it
    assert "olivia proposes" in mail.body and "Why: The study is over." in mail.body
    assert proposal.plan[0] in mail.body and f"/proposals/{proposal.pk}/" in mail.body


def test_ending_a_charter_waits_for_a_second_officer_and_the_trail_names_both(live_charter, officer, second_officer):
    charter = live_charter.charter
    proposal = propose("charter_end", charter.slug, officer)
    assert proposal.status == "pending" and proposal.target_label == f"{charter.slug} ({charter.partner.name})"
    assert proposal.plan[0].startswith(f"Charter {charter.slug} is terminated")
    assert any("data key" in line for line in proposal.plan)  # the exit plan's lines, as they stand now
    charter.refresh_from_db()
    assert charter.status == "active" and not Exit.objects.exists()  # proposing does nothing

    with pytest.raises(PermissionDenied, match="You proposed this: a second officer must confirm it"):
        confirm(proposal, officer)
    done = confirm(proposal, second_officer)
    assert done.status == "carried_out" and done.decided_by == second_officer
    exit_ = Exit.objects.get(charter=charter)
    assert done.result_url == f"/governance/exits/{exit_.pk}/"
    both = {"id": proposal.pk, "kind": "charter_end", "proposed_by": "olivia", "confirmed_by": "oscar"}
    started = Event.objects.get(action="exit.started")
    assert started.actor_label == "oscar" and started.details["proposal"] == both
    assert started.partner == charter.partner.slug  # the act's events reach the partner, with both names
    made, confirmed = Event.objects.get(action="proposal.made"), Event.objects.get(action="proposal.confirmed")
    assert (made.actor_label, made.reason, made.partner) == ("olivia", "The study is over.", "")
    assert (confirmed.actor_label, confirmed.partner) == ("oscar", "")  # the host's deliberation stays the host's
    assert confirmed.details["proposed_by"] == "olivia" and confirmed.details["confirmed_by"] == "oscar"
    with pytest.raises(ValidationError, match="is confirmed and carried out: there is nothing left to decide"):
        confirm(done, second_officer)


def test_no_officer_does_a_four_eyes_act_alone_but_the_operator_still_can(
    before, make_grant, live_charter, store, officer, a_admin, partner_a
):
    _, _, bundle = before
    make_grant(actions=["infer"], purposes=["benchmarking"])
    key = store("evaluation_output", partner=partner_a).data_key
    by = actor_for(officer)
    acts = [
        lambda: exits.charter_end(charter=live_charter.charter, by=by, reason="Alone."),
        lambda: exits.exit_start(charter=live_charter.charter, by=by, reason="Alone."),
        lambda: rollback.bundle_rollback(bundle=bundle, by=by, reason="Alone."),
        lambda: destruction.destruction_now(data_key=key, by=by, reason="Alone."),
        lambda: factors_reset(user=a_admin, by=by, reason="Alone."),
    ]
    for act in acts:
        with pytest.raises(PermissionDenied) as refused:
            act()
        assert str(refused.value) == SECOND_OFFICER_REFUSAL
    assert live_charter.charter.status == "active" and DataKey.objects.get(pk=key.pk).status == "active"
    assert TOTPDevice.objects.filter(user=a_admin).exists()
    # The operator's commands run with the database's own credentials: the table cannot hold them back.
    certificate = destruction.destruction_now(data_key=key, by=Actor.system("manage.py artefact"), reason="Ops.")
    assert certificate.data_key.status == "destroyed"


def test_a_proposal_lapses_unconfirmed_and_the_act_can_be_proposed_again(live_charter, officer, second_officer):
    slug = live_charter.charter.slug
    proposal = propose("charter_end", slug, officer)
    assert proposal.expires_at == proposal.proposed_at + timedelta(hours=48)
    with time_machine.travel(proposal.expires_at - timedelta(seconds=1), tick=False):
        assert proposals_lapse() == 0
    with time_machine.travel(proposal.expires_at + timedelta(seconds=1), tick=False):
        with pytest.raises(ValidationError, match=r"This proposal lapsed at .* UTC: propose it again"):
            confirm(proposal, second_officer)
        assert proposals_lapse() == 0  # the confirmation already marked it: once, with one event
        again = propose("charter_end", slug, second_officer)
    proposal.refresh_from_db()
    assert proposal.status == "expired" and again.status == "pending"
    lapsed = Event.objects.get(action="proposal.expired")
    assert lapsed.actor_label == "proposals" and lapsed.details["proposed_by"] == "olivia"
    assert Charter.objects.get(slug=slug).status == "active" and not Exit.objects.exists()


def test_the_beat_lapses_what_is_past_its_time(live_charter, officer, settings):
    settings.ACCORD_PROPOSAL_HOURS = 1
    proposal = propose("charter_end", live_charter.charter.slug, officer)
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1), tick=False):
        assert proposals_lapse() == 1
    proposal.refresh_from_db()
    assert proposal.status == "expired" and proposal.expires_at == proposal.proposed_at + timedelta(hours=1)


def test_one_open_proposal_per_act_and_a_reason_for_each(live_charter, officer, second_officer):
    slug = live_charter.charter.slug
    with pytest.raises(ValidationError, match="Say why: the second officer reads it"):
        propose("charter_end", slug, officer, reason="  ")
    first = propose("charter_end", slug, officer)
    with pytest.raises(ValidationError, match=rf"olivia already proposed this on .* \(proposal {first.pk}\)"):
        propose("charter_end", slug, second_officer)
    with pytest.raises(ValidationError, match="There is no charter 'no-such-charter'"):
        propose("charter_end", "no-such-charter", officer)
    with pytest.raises(ValidationError, match="There is no proposal of kind 'charter_burn'"):
        propose("charter_burn", slug, officer)
    assert Proposal.objects.count() == 1


def test_withdrawing_the_proposer_freely_another_officer_with_a_reason(live_charter, officer, second_officer):
    slug = live_charter.charter.slug
    mine = propose("charter_end", slug, officer)
    proposals.proposal_withdraw(proposal=mine, by=actor_for(officer))
    with pytest.raises(ValidationError, match="is withdrawn: there is nothing left to decide"):
        confirm(mine, second_officer)
    theirs = propose("charter_end", slug, officer)
    with pytest.raises(ValidationError, match="Say why you withdraw olivia's proposal"):
        proposals.proposal_withdraw(proposal=theirs, by=actor_for(second_officer))
    proposals.proposal_withdraw(proposal=theirs, by=actor_for(second_officer), reason="Not while the audit runs.")
    theirs.refresh_from_db()
    assert (theirs.status, theirs.decided_by, theirs.outcome) == (
        "withdrawn",
        second_officer,
        "Not while the audit runs.",
    )
    assert Event.objects.filter(action="proposal.withdrawn").count() == 2
    assert Charter.objects.get(slug=slug).status == "active"


def test_a_rollback_whose_plan_changed_since_fails_and_does_nothing(before, make_grant, officer, second_officer):
    _, _, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    proposal = propose("policy_rollback", bundle.hash, officer, reason="Bad approval.")
    assert proposal.plan_check == rollback.rollback_plan(bundle).digest
    # A grant approved since: the plan now suspends it too, so it is no longer the plan that was proposed.
    later = make_grant(actions=["evaluate"], purposes=["safety-evaluation"])
    done = confirm(proposal, second_officer)
    assert done.status == "failed" and "The policy changed since this rollback was planned" in done.outcome
    assert status_of(added) == "active" and status_of(later) == "active"
    assert not Event.objects.filter(action="policy.rolled_back").exists()
    failed = Event.objects.get(action="proposal.failed")
    assert failed.actor_label == "oscar" and failed.details["proposed_by"] == "olivia"


def test_destroying_a_key_now_takes_two_officers_and_cannot_be_cancelled_after(
    store, officer, second_officer, partner_a
):
    artefact = store("evaluation_output", partner=partner_a, content=b"outputs nobody may read again")
    key = artefact.data_key
    destruction.destruction_schedule(data_key=key, by=actor_for(officer), reason="Study over.")
    proposal = propose("key_destroy_now", key.key_id, officer, reason="The partner's copy leaked.")
    assert "instead of after its grace period ends" in proposal.plan[0]
    assert proposal.plan[1] == "Its 1 artefact can no longer be decrypted: evaluation_output.bin."
    key.refresh_from_db()
    assert key.status == "pending_destruction"  # still cancellable: nothing happened yet
    done = confirm(proposal, second_officer)
    key.refresh_from_db()
    assert done.status == "carried_out" and key.status == "destroyed" and key.wrapped is None
    assert done.result_url == f"/governance/certificates/{key.certificate.number}/"
    with pytest.raises(artefacts.KeyDestroyedError):
        list(artefacts.artefact_read(artefact))
    with pytest.raises(ValidationError, match="cannot be kept"):
        destruction.destruction_cancel(data_key=key, by=actor_for(officer), reason="Too late.")
    both = {"id": proposal.pk, "kind": "key_destroy_now", "proposed_by": "olivia", "confirmed_by": "oscar"}
    for action in ("data_key.destruction_brought_forward", "data_key.destroyed"):
        assert Event.objects.get(action=action).details["proposal"] == both
    with pytest.raises(ValidationError, match="is destroyed: there is nothing to destroy"):
        propose("key_destroy_now", key.key_id, officer)


def test_only_officers_propose_and_answer(live_charter, officer, auditor, a_admin):
    slug = live_charter.charter.slug
    for who in (auditor, a_admin):
        with pytest.raises(PermissionDenied, match="Only governance officers propose and confirm"):
            propose("charter_end", slug, who)
    proposal = propose("charter_end", slug, officer)
    for who in (auditor, a_admin):
        with pytest.raises(PermissionDenied):
            confirm(proposal, who)
        with pytest.raises(PermissionDenied):
            proposals.proposal_withdraw(proposal=proposal, by=actor_for(who), reason="No.")
    with pytest.raises(PermissionDenied, match="not a person"):
        proposals.proposal_confirm(proposal=proposal, by=Actor.system("manage.py proposals"))
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_the_pages_show_who_asked_why_and_what_happens_and_wait_for_the_second_officer(
    client, live_charter, officer, second_officer, auditor, a_admin
):
    slug = live_charter.charter.slug
    sign_in(client, officer)
    shown = client.post(f"/governance/charters/{slug}/exit/", {"reason": "Study complete."}, follow=True)
    proposal = Proposal.objects.get()
    page = shown.content.decode()
    assert shown.redirect_chain[-1][0] == f"/proposals/{proposal.pk}/"
    assert "Proposed by <strong>olivia</strong>" in page and "Study complete." in page
    assert f"Charter {slug} is terminated" in page and "You proposed this: another officer confirms it." in page
    assert "Confirm: carry this out now" not in page
    assert "Nothing waits for your confirmation." in client.get("/proposals/").content.decode()

    sign_in(client, second_officer)
    listed = client.get("/proposals/").content.decode()
    assert "Waiting for you (1)" in listed and f'href="/proposals/{proposal.pk}/"' in listed
    assert "Confirm: carry this out now" in client.get(f"/proposals/{proposal.pk}/").content.decode()
    done = client.post(f"/proposals/{proposal.pk}/confirm/", follow=True)
    assert f"Charter {slug} is terminated and its exit has started." in done.content.decode()

    sign_in(client, auditor)  # auditors read proposals, and answer none
    page = client.get(f"/proposals/{proposal.pk}/").content.decode()
    assert "Confirmed and carried out by <strong>oscar</strong>" in page and "Withdraw" not in page
    assert client.post(f"/proposals/{proposal.pk}/withdraw/", {"reason": "x"}).status_code == 403
    sign_in(client, a_admin)  # partners see the act's events, not the host's deliberation
    assert client.get("/proposals/").status_code == 403
    assert client.get(f"/proposals/{proposal.pk}/").status_code == 404  # the host's: not there for a partner


def test_the_api_proposes_lists_confirms_and_withdraws(api_as, live_charter, officer, second_officer, b_admin):
    slug = live_charter.charter.slug
    olivia, oscar = api_as(officer).client, api_as(second_officer).client
    bad = olivia.post("/api/v1/proposals/create", {"kind": "charter_end", "target": slug}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["error"]["fields"]
    unknown = olivia.post(
        "/api/v1/proposals/create", {"kind": "charter_end", "target": "nope", "reason": "x"}, format="json"
    )
    assert unknown.status_code == 400 and "There is no charter 'nope'" in unknown.json()["error"]["fields"]["target"][0]
    made = olivia.post(
        "/api/v1/proposals/create", {"kind": "charter_end", "target": slug, "reason": "Over."}, format="json"
    )
    assert made.status_code == 202 and made["Location"] == f"/api/v1/proposals/{made.json()['id']}"
    pk = made.json()["id"]
    assert [p["id"] for p in oscar.get("/api/v1/proposals?status=pending").json()["results"]] == [pk]
    assert oscar.get("/api/v1/proposals?status=maybe").status_code == 400
    assert olivia.post(f"/api/v1/proposals/{pk}/confirm").status_code == 403
    assert api_as(b_admin).client.get(f"/api/v1/proposals/{pk}").status_code == 404
    assert api_as(b_admin).client.post(f"/api/v1/proposals/{pk}/confirm").status_code == 404
    withdrawn = olivia.post(f"/api/v1/proposals/{pk}/withdraw", {}, format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    again = olivia.post(
        "/api/v1/proposals/create", {"kind": "charter_end", "target": slug, "reason": "Over now."}, format="json"
    ).json()
    done = oscar.post(f"/api/v1/proposals/{again['id']}/confirm")
    assert done.status_code == 200 and done.json()["status"] == "carried_out"
    assert done.json()["decided_by"] == "oscar" and Exit.objects.filter(charter__slug=slug).exists()
    assert oscar.get("/api/v1/proposals/999999").status_code == 404
