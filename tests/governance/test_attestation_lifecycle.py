"""Re-attestation tied to the grant's life (issue 26): attested sessions end when their grant is suspended, held or
revoked and when their measurement leaves its allow-list, through the policy feed; a process reads a session once;
an enclave that keeps presenting a withdrawn measurement is a misuse finding that suspends the grant and opens an
incident."""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import actor_for
from audit.models import Event
from charters.models import PolicyChange
from governance.anomalies import services as anomalies
from governance.attestation.measurements import measurement_remove
from governance.grants.services import grant_hold, grant_release, grant_resume, grant_revoke, grant_suspend
from governance.models import AnomalyFinding, DecisionSession, Grant, Incident, Measurement
from governance.policy import live
from tests.governance import test_attestation_decisions as attested_world
from tests.governance.test_attestation_decisions import (
    EVALUATE_TERMS,
    INFER_TERMS,
    ask,
    attested,
    message,
    nonce,
    open_session,
    with_terms,
)
from tests.helpers import codes
from tests.world import activate

# The attested world of the decision tests: its kit, its allow-list and its gateway.
gateway = attested_world.gateway
kit = attested_world.kit
serving = attested_world.serving

WITHDRAWN_IMAGE = {"name": "withdrawn-image", "rule": "removed_measurement", "params": {"count": 3}, "severity": "high"}


@pytest.fixture
def live_charter(attestation_kit, serving, charter_text, officer, second_officer, a_admin):
    """The attested charter, whose misuse rules also name enclaves that keep presenting a withdrawn image."""

    def change(document):
        with_terms(document, infer=INFER_TERMS, evaluate=EVALUATE_TERMS)
        document["misuse"].append(copy.deepcopy(WITHDRAWN_IMAGE))

    return activate(charter_text(change), officer, second_officer, accept_by=a_admin)


def session_token(gateway, atlas, kit) -> str:
    opened = open_session(gateway, atlas, attested("azure-prod", kit.azure(nonce(gateway))))
    assert opened.status_code == 201, opened.content
    token: str = opened.json()["session"]
    return token


def snp_entry(serving) -> Measurement:
    return Measurement.objects.get(allow_list=serving, platform="snp")


# --- Sessions end with the grant -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "restart", "said"),
    [
        (grant_suspend, grant_resume, "its grant was suspended"),
        (grant_hold, grant_release, "its grant was held for an incident"),
    ],
    ids=["suspended", "held"],
)
def test_a_grant_that_stops_ends_its_sessions_and_restarts_without_them(
    gateway, make_grant, atlas, kit, officer, stop, restart, said
):
    grant = make_grant(requires_attestation=True)
    token = session_token(gateway, atlas, kit)
    assert ask(gateway, atlas, session=token)["allow"] is True
    grant = stop(grant=grant, by=actor_for(officer), reason="Looking into it.")
    restart(grant=Grant.objects.get(pk=grant.pk), by=actor_for(officer), reason="All clear.")
    answer = ask(gateway, atlas, session=token)
    assert codes(answer) == ["attestation_required"] and said in message(answer) and "Attest again" in message(answer)
    # A fresh attestation opens a new session, which works.
    assert ask(gateway, atlas, session=session_token(gateway, atlas, kit))["allow"] is True
    ended = Event.objects.get(action="sessions.ended")
    assert ended.partner == "northwind" and ended.details["grants"] == [grant.pk]


def test_a_revoked_grants_sessions_end_with_it(gateway, make_grant, atlas, kit, officer):
    grant = make_grant(requires_attestation=True)
    session_token(gateway, atlas, kit)
    grant_revoke(grant=grant, by=actor_for(officer), reason="No longer needed.")
    session = DecisionSession.objects.get()
    assert session.end_reason == "grant_revoked" and session.ended_at is not None


def test_a_process_reads_a_session_once_and_hears_its_end_from_the_feed(
    gateway, make_grant, atlas, kit, officer, serving
):
    make_grant(requires_attestation=True)
    token = session_token(gateway, atlas, kit)
    assert ask(gateway, atlas, session=token)["allow"] is True  # read now, and kept
    with CaptureQueriesContext(connection) as queries:
        assert ask(gateway, atlas, session=token)["allow"] is True
    assert not [query for query in queries if "governance_decisionsession" in query["sql"]]

    head = PolicyChange.objects.order_by("-seq").values_list("seq", flat=True).first()
    measurement_remove(officer=officer, entry=snp_entry(serving), reason="The image has a known flaw.")
    [change] = PolicyChange.objects.filter(seq__gt=head, kind=PolicyChange.Kind.SESSIONS)
    assert change.state["reason"] == "measurement_removed" and len(change.state["sessions"]) == 1
    with CaptureQueriesContext(connection) as queries:
        answer = ask(gateway, atlas, session=token)
    assert codes(answer) == ["attestation_measurement_removed"]
    assert not [query for query in queries if "governance_decisionsession" in query["sql"]], "the feed said it"
    assert live.current().ended.keys() == {DecisionSession.objects.get().pk}


def test_a_snapshot_loaded_after_the_end_knows_it(gateway, make_grant, atlas, kit, officer, serving):
    make_grant(requires_attestation=True)
    token = session_token(gateway, atlas, kit)
    measurement_remove(officer=officer, entry=snp_entry(serving), reason="The image has a known flaw.")
    live.forget()
    assert live.current().ended.keys() == {DecisionSession.objects.get().pk}
    assert codes(ask(gateway, atlas, session=token)) == ["attestation_measurement_removed"]


# --- The misuse path ---------------------------------------------------------------------------------------


def test_an_enclave_that_keeps_presenting_a_withdrawn_image_suspends_the_grant_and_opens_an_incident(
    gateway, make_grant, atlas, kit, officer, serving
):
    grant = make_grant(requires_attestation=True)
    token = session_token(gateway, atlas, kit)
    assert ask(gateway, atlas, session=token)["allow"] is True
    measurement_remove(officer=officer, entry=snp_entry(serving), reason="CVE in the image.")
    # The old session twice, then fresh evidence of the same image: three times, the rule's count.
    assert codes(ask(gateway, atlas, session=token)) == ["attestation_measurement_removed"]
    assert codes(ask(gateway, atlas, session=token)) == ["attestation_measurement_removed"]
    fresh = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(nonce(gateway))))
    assert codes(fresh) == ["attestation_measurement_removed"] and "reported as misuse" in message(fresh)
    [finding] = anomalies.anomalies_check()
    assert finding.name == "withdrawn-image" and finding.rule == "removed_measurement"
    assert finding.details == {"presented": 3} and finding.grant_id == grant.pk
    grant.refresh_from_db()
    finding.refresh_from_db()
    assert grant.status == Grant.Status.SUSPENDED
    assert finding.incident is not None and finding.incident.status == Incident.Status.OPEN
    assert finding.incident.charter_id == grant.charter_id
    # The suspension ended the sessions left, and the gateway is told who suspended the grant.
    assert not DecisionSession.objects.filter(ended_at__isnull=True).exists()
    later = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(nonce(gateway))))
    assert codes(later) == ["grant_suspended"] and f"anomaly finding #{finding.pk}" in message(later)


def test_fewer_presentations_than_the_rule_counts_are_no_finding(gateway, make_grant, atlas, kit, officer, serving):
    make_grant(requires_attestation=True)
    token = session_token(gateway, atlas, kit)
    measurement_remove(officer=officer, entry=snp_entry(serving), reason="CVE in the image.")
    assert codes(ask(gateway, atlas, session=token)) == ["attestation_measurement_removed"]
    assert anomalies.anomalies_check() == []
    assert not AnomalyFinding.objects.exists() and not Incident.objects.exists()
