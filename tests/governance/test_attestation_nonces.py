"""Attestation nonces: single-use, short-lived, bound to the principal that asked, in Redis and in the database
(the embedded mode); and the endpoint that issues them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_issue
from governance.attestation.nonces import NonceRefusedError, NonceStoreUnavailableError, nonce_issue, nonce_spend
from governance.models import AttestationNonce
from tests.conftest import SETUP, committing


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "database"])
def store(request, settings):
    """Each test runs against the real Redis and in the embedded mode (no Redis: the database keeps nonces)."""
    if request.param == "database":
        settings.REDIS_URL = None
    return request.param


def refusal(principal, value, now=None) -> str:
    with pytest.raises(NonceRefusedError) as refused:
        nonce_spend(principal, value, now or timezone.now())
    assert refused.value.code == "attestation_replayed"
    return refused.value.why


def test_a_nonce_is_fresh_and_expires_after_the_configured_seconds(store, a_principal, settings):
    settings.ACCORD_ATTESTATION_NONCE_SECONDS = 120
    before = timezone.now()
    first, second = nonce_issue(a_principal), nonce_issue(a_principal)
    assert first.value != second.value and len(first.value) >= 40
    assert before + timedelta(seconds=120) <= first.expires_at <= timezone.now() + timedelta(seconds=120)


def test_a_nonce_is_spent_once(store, a_principal):
    nonce = nonce_issue(a_principal)
    nonce_spend(a_principal, nonce.value, timezone.now())
    assert refusal(a_principal, nonce.value) == "used"


def test_an_expired_nonce_is_refused_as_expired(store, a_principal, settings):
    nonce = nonce_issue(a_principal)
    with time_machine.travel(nonce.expires_at + timedelta(seconds=1), tick=False):
        assert refusal(a_principal, nonce.value) == "expired"
    nonce_spend(a_principal, nonce.value, nonce.expires_at - timedelta(seconds=1))  # refusing it spent nothing


@committing
def test_of_eight_racing_spends_of_one_nonce_exactly_one_wins(store, a_principal):
    if store == "database" and connection.vendor != "postgresql":
        # SQLite's test database takes one writer at a time and refuses the others ("table is locked"): the race
        # is PostgreSQL's, where CI runs it.
        pytest.skip("racing writers need PostgreSQL: set DATABASE_URL to run this")
    nonce = nonce_issue(a_principal)
    start, outcomes = threading.Barrier(8), []

    def spend() -> None:
        try:
            start.wait()
            nonce_spend(a_principal, nonce.value, timezone.now())
            outcomes.append("spent")
        except NonceRefusedError as refused:
            outcomes.append(refused.why)
        finally:
            connection.close()

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["spent"] + ["used"] * 7


def test_another_principals_nonce_is_unknown_and_stays_spendable_by_its_owner(store, a_principal, b_principal):
    nonce = nonce_issue(a_principal)
    assert refusal(b_principal, nonce.value) == "unknown"
    nonce_spend(a_principal, nonce.value, timezone.now())


def test_a_nonce_never_issued_is_unknown(store, a_principal):
    assert refusal(a_principal, "made-up-by-the-caller") == "unknown"
    assert "POST /api/v1/attestation/nonce" in str(NonceRefusedError("unknown"))


def test_the_database_keeps_only_digests_and_prunes_nonces_a_lifetime_past_their_expiry(a_principal, settings):
    settings.REDIS_URL = None
    old = nonce_issue(a_principal)
    recent = nonce_issue(a_principal, now=timezone.now() + timedelta(seconds=400))
    assert not AttestationNonce.objects.filter(digest=old.value).exists()  # the digest, not the nonce
    nonce_issue(a_principal, now=old.expires_at + timedelta(seconds=301))  # prunes the first one only
    assert AttestationNonce.objects.count() == 2
    assert refusal(a_principal, old.value, old.expires_at + timedelta(seconds=301)) == "unknown"
    assert refusal(a_principal, recent.value, recent.expires_at + timedelta(seconds=1)) == "expired"


@pytest.mark.redis
def test_redis_keeps_nonces_under_the_installs_prefix_with_a_ttl(a_principal, settings):
    import redis

    nonce_issue(a_principal)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{settings.ACCORD_REDIS_PREFIX}attestation:nonce:{a_principal.pk}:*"))
        assert keys and all(0 < client.ttl(key) <= 2 * settings.ACCORD_ATTESTATION_NONCE_SECONDS for key in keys)
    finally:
        client.close()


# --- The endpoint -------------------------------------------------------------------------------------------


def test_a_principal_gets_a_nonce_it_can_spend(store, api_as, a_principal):
    answer = api_as(a_principal).client.post("/api/v1/attestation/nonce")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert set(body) == {"nonce", "expires_at"}
    nonce_spend(a_principal, body["nonce"], timezone.now())
    assert refusal(a_principal, body["nonce"]) == "used"


def test_a_persons_token_is_refused_with_403(api_as, a_admin):
    answer = api_as(a_admin).client.post("/api/v1/attestation/nonce")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "permission_denied"


def test_a_principals_token_narrowed_to_another_scope_is_refused_with_403(a_principal):
    _, raw = api_token_issue(user=a_principal, name="narrowed", by=SETUP, scopes=["pep"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = client.post("/api/v1/attestation/nonce")
    assert answer.status_code == 403 and "decide scope" in answer.json()["error"]["message"]


def test_no_token_is_refused_with_401(db):
    answer = APIClient().post("/api/v1/attestation/nonce")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_authenticated"


def test_a_redis_that_refuses_connections_answers_503_and_issues_nothing(api_as, a_principal, settings):
    from tests.faults import LoopbackPeer

    caller = api_as(a_principal)
    peer = LoopbackPeer()
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{peer.port}/0"
        answer = caller.client.post("/api/v1/attestation/nonce")
        with pytest.raises(NonceStoreUnavailableError):
            nonce_spend(a_principal, "anything", timezone.now())
    finally:
        peer.close()
    assert answer.status_code == 503 and answer["Retry-After"]
    assert answer.json()["error"]["code"] == "service_unavailable"
    assert not AttestationNonce.objects.exists()
