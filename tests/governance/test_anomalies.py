"""Anomaly checks: a grant that breaks one of its charter's misuse rules is suspended within the next check, the
officers are mailed through the outbox, and the decision API denies; a second check does nothing again."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from audit.models import Event
from governance.anomalies import services as anomalies
from governance.models import AnomalyFinding, Grant, OutboxMessage
from governance.outbox import services as outbox
from governance.policy.explain import decision_explain
from governance.tasks import anomalies_check as anomalies_task
from governance.tasks import outbox_send as outbox_task
from tests.helpers import sign_in, spiked, take_queued, used


@pytest.fixture
def now():
    return timezone.now().replace(minute=30, second=0, microsecond=0)


@pytest.fixture
def steady(make_grant, a_principal, atlas, now):
    """A grant used once an hour for the past day: its baseline."""
    grant = make_grant()
    for hours in range(2, 26):
        with time_machine.travel(now - timedelta(hours=hours), tick=False):
            used(a_principal, atlas, 1)
    return grant


def test_a_usage_spike_suspends_the_grant_mails_the_officers_and_denies(
    steady, a_principal, atlas, now, officer, second_officer, api_as
):
    with time_machine.travel(now - timedelta(minutes=5), tick=False):
        used(a_principal, atlas, 25)
    with time_machine.travel(now, tick=False):
        assert anomalies_task() == 1
        finding = AnomalyFinding.objects.get()
        assert (finding.grant_id, finding.name, finding.severity) == (steady.pk, "usage-spike", "high")
        assert finding.details["recent"] == 25 and finding.details["baseline"] == 1.0
        steady.refresh_from_db()
        assert steady.status == Grant.Status.SUSPENDED and steady.status_reason.startswith("Anomaly usage-spike (high)")
        answer = (
            api_as(a_principal)
            .client.post(
                "/api/v1/decisions", {"action": "infer", "asset": atlas, "purpose": "benchmarking"}, format="json"
            )
            .json()
        )
        assert answer["allow"] is False and answer["reasons"][0]["code"] == "grant_suspended"
        assert anomalies_task() == 0  # the next check: nothing again
        assert Event.objects.filter(action="grant.suspended").count() == 1
    message = OutboxMessage.objects.get(key__startswith="anomaly-finding-")
    assert message.to == sorted([officer.email, second_officer.email]) and "usage-spike" in message.body
    # The finding also opened an incident, whose declaration is mailed too (see test_incidents.py); the partner's
    # admin was asked to accept the charter when the world was built.
    assert outbox_task() == 3 and outbox_task() == 0
    sent = sorted(message.extra_headers["Message-ID"] for message in mail.outbox)
    kinds = ("<anomaly-finding-", "<charter-version-", "<incident-")
    assert all(message_id.startswith(kind) for message_id, kind in zip(sent, kinds, strict=True))


def test_repeated_denied_exports_are_a_finding(make_grant, a_principal, atlas):
    grant = make_grant(actions=["infer"])  # no export_outputs
    denied = used(a_principal, atlas, 3, action="export_outputs")
    assert not any(decision.allow for decision in denied)
    [finding] = anomalies.anomalies_check()
    assert finding.name == "export-probing" and finding.details == {"denied": 3}
    grant.refresh_from_db()
    assert grant.status == Grant.Status.SUSPENDED


def test_use_from_a_new_address_is_a_finding(make_grant, a_principal, atlas, now):
    make_grant()
    with time_machine.travel(now - timedelta(days=1), tick=False):
        used(a_principal, atlas, 2, address="10.0.0.1")
    with time_machine.travel(now - timedelta(minutes=2), tick=False):
        used(a_principal, atlas, 1, address="10.0.0.1")
    with time_machine.travel(now, tick=False):
        assert anomalies.anomalies_check() == []  # the address it always uses
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        used(a_principal, atlas, 1, address="203.0.113.9")
    with time_machine.travel(now + timedelta(minutes=2), tick=False):  # the next check
        [finding] = anomalies.anomalies_check()
    assert finding.name == "unknown-client" and finding.details == {"new": ["203.0.113.9"]}


def test_the_outbox_keeps_a_failure_and_sends_once_the_server_answers(db, settings):
    from django.db import transaction

    with transaction.atomic():
        outbox.mail_enqueue(key="k-1", to=["a@x.example"], subject="S", body="B")
        assert outbox.mail_enqueue(key="k-1", to=["a@x.example"], subject="S", body="B") is None  # once per key
    settings.EMAIL_BACKEND = "tests.governance.test_anomalies.RefusingBackend"
    assert outbox.outbox_send() == 0
    waiting = OutboxMessage.objects.get()
    assert waiting.attempts == 1 and "refused" in waiting.last_error and waiting.sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox.outbox_send() == 1 and len(mail.outbox) == 1
    assert outbox.outbox_send() == 0  # sent is sent


@pytest.mark.redis
def test_a_message_queues_the_outbox_task_by_its_registered_name_once_it_commits(
    db, django_capture_on_commit_callbacks
):
    from django.db import transaction

    take_queued(outbox_task.name)  # nothing an earlier test left counts here
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        outbox.mail_enqueue(key="k-queued", to=["a@x.example"], subject="S", body="B")
        assert take_queued("governance.tasks.outbox_send") == []  # not before the commit
    assert len(callbacks) == 1 and take_queued("governance.tasks.outbox_send") == [[]]


def test_mail_for_nobody_is_not_queued_and_a_message_that_keeps_failing_is_given_up(db, settings):
    from django.db import transaction

    with transaction.atomic():
        assert outbox.mail_enqueue(key="k-blank", to=["", "  "], subject="S", body="B") is None
        outbox.mail_enqueue(key="k-bad", to=["a@x.example"], subject="S", body="B")
    settings.EMAIL_BACKEND = "tests.governance.test_anomalies.RefusingBackend"
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        outbox.outbox_send()
    stuck = OutboxMessage.objects.get(key="k-bad")
    assert stuck.attempts == outbox.MAX_ATTEMPTS and stuck.sent_at is None and stuck.claimed_until is None


class RefusingBackend:
    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server refused the connection")


def test_use_outside_the_grants_window_is_a_finding(make_grant, a_principal, atlas, now):
    grant = make_grant(valid_from=now + timedelta(days=2))  # approved, not valid yet
    with time_machine.travel(now, tick=False):
        early = used(a_principal, atlas, 1)
        assert early[0].reasons[0]["code"] == "not_yet_valid"
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        [finding] = anomalies.anomalies_check()
    assert finding.name == "off-hours-use" and finding.details == {"requests": 1}
    grant.refresh_from_db()
    assert grant.status == Grant.Status.SUSPENDED


def test_a_resumed_grant_is_not_suspended_again_for_the_same_burst_but_is_for_a_new_one(
    steady, a_principal, atlas, now, officer
):
    from accounts.services import actor_for
    from governance.grants.services import grant_resume

    with time_machine.travel(now - timedelta(minutes=5), tick=False):
        used(a_principal, atlas, 25)
    with time_machine.travel(now, tick=False):
        assert len(anomalies.anomalies_check()) == 1
    with time_machine.travel(now + timedelta(minutes=2), tick=False):
        steady.refresh_from_db()
        grant_resume(grant=steady, by=actor_for(officer), reason="Load test we announced.")
    with time_machine.travel(now + timedelta(minutes=3), tick=False):
        assert anomalies.anomalies_check() == []  # the burst it was resumed over
        used(a_principal, atlas, 25)
    with time_machine.travel(now + timedelta(minutes=4), tick=False):
        [again] = anomalies.anomalies_check()  # a new burst, in the same hour
    assert again.name == "usage-spike" and again.details["recent"] == 25
    assert AnomalyFinding.objects.count() == 2


def test_a_first_use_from_any_address_is_not_a_finding(make_grant, a_principal, atlas, now):
    make_grant()
    with time_machine.travel(now, tick=False):
        used(a_principal, atlas, 1, address="198.51.100.7")
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        assert anomalies.anomalies_check() == []


def test_officers_see_findings_in_the_admin_read_only(steady, a_principal, atlas, now, client, auditor):

    [finding] = spiked(a_principal, atlas, at=now)
    sign_in(client, auditor)
    page = client.get(f"/admin/governance/anomalyfinding/{finding.pk}/change/")
    assert page.status_code == 200 and "usage-spike" in page.content.decode()
    assert client.post(f"/admin/governance/anomalyfinding/{finding.pk}/delete/").status_code == 403


# --- The spike rule's floor and its words ----------------------------------------------------------------------


def spike_floor(charter_text, officer, second_officer, a_admin, floor):
    """Amend the live charter so that its usage-spike rule has ``floor`` as its min_uses."""
    from tests.world import activate

    activate(
        charter_text(lambda document: document["misuse"][0]["params"].update(min_uses=floor)),
        officer,
        second_officer,
        accept_by=a_admin,
    )


def test_a_spike_on_a_grant_without_history_says_it_crossed_the_floor(make_grant, a_principal, atlas, now):
    grant = make_grant()
    [finding] = spiked(a_principal, atlas, at=now)
    assert finding.summary == (
        "25 uses in the last hour, over the rule's floor of 20 uses; the grant has no earlier use to compare with"
    )
    assert finding.details == {"recent": 25, "baseline": 0.0, "factor": 5.0, "min_uses": 20}
    grant.refresh_from_db()
    # The grant's reason is in the partner's sight: it names the rule, never its thresholds.
    assert grant.status_reason == "Anomaly usage-spike (high): use far above the grant's usual rate."


def test_a_spike_over_a_baseline_says_by_how_much_in_words(steady, a_principal, atlas, now):
    [finding] = spiked(a_principal, atlas, at=now)
    assert finding.summary == (
        "25 uses in the last hour, more than 5x the grant's average of 1.0 per hour over the 24 hours before"
    )


def test_denied_exports_say_their_window_in_words(make_grant, a_principal, atlas):
    make_grant(actions=["infer"])
    used(a_principal, atlas, 3, action="export_outputs")
    [finding] = anomalies.anomalies_check()
    assert finding.summary == "3 denied export attempts in the last 30 minutes"


def test_the_charters_floor_replaces_the_default_one(
    make_grant, a_principal, atlas, now, charter_text, officer, second_officer, a_admin
):
    make_grant()
    spike_floor(charter_text, officer, second_officer, a_admin, 40)
    with time_machine.travel(now - timedelta(minutes=20), tick=False):
        used(a_principal, atlas, 25)  # a spike under the default floor of 20, not under this charter's
    with time_machine.travel(now - timedelta(minutes=15), tick=False):
        assert anomalies.anomalies_check() == []
    with time_machine.travel(now - timedelta(minutes=10), tick=False):
        used(a_principal, atlas, 20)
    with time_machine.travel(now, tick=False):
        [finding] = anomalies.anomalies_check()
    assert finding.details["recent"] == 45 and finding.details["min_uses"] == 40
    assert "over the rule's floor of 40 uses" in finding.summary


@pytest.mark.parametrize("floor", [-5, 0, "lots", 2.5])
def test_a_floor_that_is_not_a_whole_number_of_uses_is_refused(charter_text, officer, floor):
    from accounts.services import actor_for
    from charters.documents import CharterDocumentError
    from charters.services.charters import charter_apply

    text = charter_text(lambda document: document["misuse"][0]["params"].update(min_uses=floor))
    with pytest.raises(CharterDocumentError) as refused:
        charter_apply(text=text, by=actor_for(officer))
    [problem] = refused.value.problems
    assert problem.path == "misuse[0].params.min_uses"
    assert problem.message == (
        f"{floor!r} must be a whole number of uses, 1 or more: the fewest uses in the window that count as a "
        "spike (default 20)."
    )


# --- What a suspended grant's decisions say --------------------------------------------------------------------


def test_a_grant_the_checks_suspended_is_denied_with_a_message_that_says_so(steady, a_principal, atlas, now):
    [finding] = spiked(a_principal, atlas, at=now)
    with time_machine.travel(now, tick=False):
        [answer] = used(a_principal, atlas, 1)
    assert answer.reasons == [
        {
            "code": "grant_suspended",
            "message": f"The grant was suspended automatically after anomaly finding #{finding.pk} (usage-spike) "
            f"at {finding.created_at:%Y-%m-%d %H:%M} UTC; an officer can resume it.",
        }
    ]
    denied = Event.objects.filter(action="decision.deny").latest("id")
    assert denied.reason == answer.reasons[0]["message"]
    # Its explanation gives the same words, not the officer's wording of the code.
    explanation = decision_explain(denied.details["decision_id"], grants=Grant.objects.all())
    assert explanation.guardrail == f"grant_suspended: {answer.reasons[0]['message']}"


def test_a_grant_an_officer_suspended_again_after_resuming_it_says_the_officer_did(
    steady, a_principal, atlas, now, officer
):
    from accounts.services import actor_for
    from governance.grants.services import grant_resume, grant_suspend

    with time_machine.travel(now - timedelta(minutes=5), tick=False):
        used(a_principal, atlas, 25)
    with time_machine.travel(now, tick=False):
        anomalies.anomalies_check()
        steady.refresh_from_db()
        steady = grant_resume(grant=steady, by=actor_for(officer), reason="A load test we announced.")
        grant_suspend(grant=steady, by=actor_for(officer), reason="On second thoughts, until they explain.")
        [answer] = used(a_principal, atlas, 1)
    assert answer.reasons == [{"code": "grant_suspended", "message": "The grant is suspended by an officer."}]


def test_a_suspended_grant_that_overrides_a_role_grant_still_says_the_checks_suspended_it(
    steady, make_grant, partner_a, a_principal, atlas, now
):
    from governance.grants.roles import partner_role_add_member, partner_role_create
    from tests.conftest import SETUP

    [finding] = spiked(a_principal, atlas, at=now)
    with time_machine.travel(now, tick=False):
        role = partner_role_create(partner=partner_a, slug="eval-jobs", by=SETUP)
        partner_role_add_member(role=role, principal=a_principal, by=SETUP)
        make_grant(principal=None, partner_role=role)  # would allow, but the suspended grant's deny line wins
        [answer] = used(a_principal, atlas, 1)
    [reason] = answer.reasons
    assert reason["code"] == "grant_suspended"
    assert reason["message"].startswith(f"The grant was suspended automatically after anomaly finding #{finding.pk}")


def test_denied_exports_of_a_role_grant_count_every_member_together(make_grant, partner_a, a_principal, atlas):
    from accounts.models import Role
    from governance.grants.roles import partner_role_add_member, partner_role_create
    from tests.conftest import SETUP, _make

    second = _make("northwind-batch", partner_a, Role.PARTNER_PRINCIPAL)
    role = partner_role_create(partner=partner_a, slug="eval-jobs", by=SETUP)
    for member in (a_principal, second):
        partner_role_add_member(role=role, principal=member, by=SETUP)
    grant = make_grant(principal=None, partner_role=role, actions=["infer"])
    used(a_principal, atlas, 2, action="export_outputs")
    assert anomalies.anomalies_check() == []  # two denies: under the rule's three
    used(second, atlas, 1, action="export_outputs")
    [finding] = anomalies.anomalies_check()
    assert (finding.grant_id, finding.details) == (grant.pk, {"denied": 3})


def test_a_check_asks_no_more_of_the_database_for_thirty_idle_grants_than_for_three(
    make_grant, a_principal, atlas, now
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit import chain
    from governance.usage.services import usage_rollup

    def queries_of_a_check() -> int:
        chain.seal()
        usage_rollup()
        with CaptureQueriesContext(connection) as queries:
            assert anomalies.anomalies_check() == []
        return len(queries)

    with time_machine.travel(now, tick=False):
        make_grant()
        used(a_principal, atlas, 5, address="10.0.0.1")  # in use, under every rule
        used(a_principal, atlas, 1, action="export_outputs")
        for _ in range(3):
            make_grant(actions=["evaluate"])
        few = queries_of_a_check()
        for _ in range(27):
            make_grant(actions=["evaluate"])
        assert queries_of_a_check() == few
