"""Anomaly checks: a grant that breaks one of its charter's misuse rules is suspended within the next check, the
officers are mailed through the outbox, and the decision API denies; a second check does nothing again."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from audit.context import request_context
from audit.models import Event
from governance.models import AnomalyFinding, Grant, OutboxMessage
from governance.services import anomalies, outbox
from governance.services.decisions import DecisionRequest, decide
from governance.tasks import anomalies_check as anomalies_task
from governance.tasks import outbox_send as outbox_task


def use(principal, atlas, times, *, action="infer", address=None):
    with request_context(request_id="", client_address=address):
        return [decide(principal, DecisionRequest(action, atlas, "benchmarking")) for _ in range(times)]


@pytest.fixture
def now():
    return timezone.now().replace(minute=30, second=0, microsecond=0)


@pytest.fixture
def steady(make_grant, a_principal, atlas, now):
    """A grant used once an hour for the past day: its baseline."""
    grant = make_grant()
    for hours in range(2, 26):
        with time_machine.travel(now - timedelta(hours=hours), tick=False):
            use(a_principal, atlas, 1)
    return grant


def test_a_usage_spike_suspends_the_grant_mails_the_officers_and_denies(
    steady, a_principal, atlas, now, officer, second_officer, api_as
):
    with time_machine.travel(now - timedelta(minutes=5), tick=False):
        use(a_principal, atlas, 25)
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
    message = OutboxMessage.objects.get()
    assert message.to == sorted([officer.email, second_officer.email]) and "usage-spike" in message.body
    assert outbox_task() == 1 and outbox_task() == 0
    assert len(mail.outbox) == 1 and mail.outbox[0].extra_headers["Message-ID"].startswith("<anomaly-finding-")


def test_repeated_denied_exports_are_a_finding(make_grant, a_principal, atlas):
    grant = make_grant(actions=["infer"])  # no export_outputs
    denied = use(a_principal, atlas, 3, action="export_outputs")
    assert not any(decision.allow for decision in denied)
    [finding] = anomalies.anomalies_check()
    assert finding.name == "export-probing" and finding.details == {"denied": 3}
    grant.refresh_from_db()
    assert grant.status == Grant.Status.SUSPENDED


def test_use_from_a_new_address_is_a_finding_but_a_first_use_is_not(make_grant, a_principal, atlas, now):
    make_grant()
    with time_machine.travel(now - timedelta(days=1), tick=False):
        use(a_principal, atlas, 2, address="10.0.0.1")
    with time_machine.travel(now - timedelta(minutes=2), tick=False):
        use(a_principal, atlas, 1, address="10.0.0.1")
    with time_machine.travel(now, tick=False):
        assert anomalies.anomalies_check() == []  # the address it always uses
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        use(a_principal, atlas, 1, address="203.0.113.9")
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


class RefusingBackend:
    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server refused the connection")


def test_use_outside_the_grants_window_is_a_finding(make_grant, a_principal, atlas, now):
    grant = make_grant(valid_from=now + timedelta(days=2))  # approved, not valid yet
    with time_machine.travel(now, tick=False):
        early = use(a_principal, atlas, 1)
        assert early[0].reasons[0]["code"] == "not_yet_valid"
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        [finding] = anomalies.anomalies_check()
    assert finding.name == "off-hours-use" and finding.details == {"requests": 1}
    grant.refresh_from_db()
    assert grant.status == Grant.Status.SUSPENDED
