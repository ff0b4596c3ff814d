"""The web server as deployed, with its database or Redis refusing, silent, or gone quiet mid-conversation
(loopback peers: tests/faults.py): decisions deny, other API calls and pages answer 503, /healthz says why, all
within bounded time, and the server recovers by itself when the dependency is back.

Deadlines here are generous liveness bounds for a loaded 2-core machine; the real latencies are measured by
``bench/faults.py``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.conf import settings

from audit.models import ExportJob, QueuedTask
from tests.conftest import committing
from tests.faults import LoopbackPeer, loopback_peer
from tests.helpers import wait_for
from tests.processes import celery, database_url, web_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis, committing]

LIVENESS = 20.0  # seconds: far above what any answer below takes, far below gunicorn's 60 s worker timeout


def call(
    server: Any, path: str, *, token: str | None = None, body: object = None, session: str | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, body) of one request, timed out well before a hang could pass for an answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Cookie"] = f"sessionid={session}"
    request = urllib.request.Request(  # noqa: S310 (loopback)
        server.url + path, data=None if body is None else json.dumps(body).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=LIVENESS) as response:  # noqa: S310 (loopback)
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    content_type = headers.get("Content-Type", "")
    return status, headers, json.loads(raw) if "json" in content_type else raw.decode()


def decide(server: Any, token: str, asset: str) -> dict[str, Any]:
    status, _, body = call(
        server, "/api/v1/decisions", token=token, body={"action": "infer", "asset": asset, "purpose": "benchmarking"}
    )
    assert status == 200, body
    return body


def codes(decision: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in decision["reasons"]]


@pytest.fixture
def world(make_grant, api_as, a_principal, a_admin, atlas):
    make_grant()
    return {"principal": api_as(a_principal).token, "admin": api_as(a_admin).token, "asset": atlas}


def assert_unavailable_everywhere(server: Any, world: dict[str, str]) -> None:
    """What every kind of caller gets while the database does not answer."""
    decision = decide(server, world["principal"], world["asset"])
    assert decision["allow"] is False and codes(decision) == ["dependency_unavailable"]

    status, _, batch = call(
        server,
        "/api/v1/decisions/batch",
        token=world["principal"],
        body={"requests": [{"action": "infer", "asset": world["asset"], "purpose": "benchmarking"}, {"action": 5}]},
    )
    assert status == 200 and [codes(result) for result in batch["results"]] == [
        ["dependency_unavailable"],
        ["invalid_request"],
    ]
    status, _, missing = call(server, "/api/v1/decisions", token=world["principal"], body={"action": "infer"})
    assert status == 400 and "asset" in missing["error"]["fields"]  # bad input is still the caller's to fix

    status, headers, api = call(server, "/api/v1/grants", token=world["admin"])
    assert status == 503 and api["error"]["code"] == "service_unavailable", api
    assert "database" in api["error"]["message"] and int(headers["Retry-After"]) >= 1

    # A signed-in person's page: the session is in the database.
    status, headers, page = call(server, "/", session="a-session-key-the-database-would-know")
    assert status == 503 and "Accord is unavailable for a moment" in page and "/static/accord/accord." in page
    assert int(headers["Retry-After"]) >= 1

    status, _, health = call(server, "/healthz")
    assert status == 503 and health["checks"]["database"]["ok"] is False and "database" in health["reason"].lower()


def test_web_workers_started_while_the_database_refuses_deny_and_answer_503_until_it_is_back(world):
    with loopback_peer() as database, web_server(DATABASE_URL=database_url(port=database.port)) as server:
        assert_unavailable_everywhere(server, world)

        database.relay(settings.DATABASES["default"]["PORT"] or 5432)
        allowed = wait_for(lambda: decide(server, world["principal"], world["asset"])["allow"], timeout=LIVENESS)
        assert allowed, "decisions did not allow again within 20 s of the database coming back"
        assert call(server, "/api/v1/grants", token=world["admin"])[0] == 200
        assert call(server, "/login/")[0] == 200


def test_a_database_that_accepts_and_never_answers_is_a_deny_and_503s_in_bounded_time(world):
    with loopback_peer() as database, web_server(DATABASE_URL=database_url(port=database.port)) as server:
        database.silent()
        started = time.monotonic()
        assert_unavailable_everywhere(server, world)
        assert time.monotonic() - started < LIVENESS


def test_a_database_that_goes_quiet_mid_conversation_is_a_deny_in_bounded_time(world):
    database = LoopbackPeer()
    database.relay(settings.DATABASES["default"]["PORT"] or 5432)
    try:
        with web_server(DATABASE_URL=database_url(port=database.port), ACCORD_WEB_WORKERS="1") as server:
            assert decide(server, world["principal"], world["asset"])["allow"]  # connections are open and used
            database.freeze()
            started = time.monotonic()
            decision = decide(server, world["principal"], world["asset"])
            assert codes(decision) == ["dependency_unavailable"] and time.monotonic() - started < LIVENESS
            assert call(server, "/api/v1/grants", token=world["admin"])[0] == 503

            database.relay(settings.DATABASES["default"]["PORT"] or 5432)
            assert wait_for(lambda: decide(server, world["principal"], world["asset"])["allow"], timeout=LIVENESS)
    finally:
        database.close()


@pytest.mark.parametrize("fault", ["refuse", "silent"])
def test_with_redis_refusing_or_silent_bad_tokens_stay_401_and_decisions_deny(world, fault):
    with loopback_peer() as redis:
        getattr(redis, fault)()
        with web_server(REDIS_URL=f"redis://127.0.0.1:{redis.port}/15", ACCORD_WEB_WORKERS="1") as server:
            started = time.monotonic()
            for path in ("/api/v1/decisions", "/api/v1/grants"):
                status, _, body = call(server, path, token="acc_not-a-token", body={} if "decisions" in path else None)
                assert status == 401 and body["error"]["code"] == "authentication_failed", body
            decision = decide(server, world["principal"], world["asset"])
            assert decision["allow"] is False and codes(decision) == ["dependency_unavailable"]

            status, _, health = call(server, "/healthz")
            assert status == 503 and not health["checks"]["redis"]["ok"] and not health["checks"]["broker"]["ok"]
            assert health["checks"]["database"]["ok"]
            assert time.monotonic() - started < 2 * LIVENESS


def test_an_export_queued_while_the_broker_is_down_runs_once_it_is_back(world, auditor, api_as):
    auditor_token = api_as(auditor).token
    with loopback_peer() as broker:
        broker_url = f"redis://127.0.0.1:{broker.port}/{settings.REDIS_URL.rsplit('/', 1)[-1]}"
        with web_server(REDIS_URL=broker_url, ACCORD_WEB_WORKERS="1") as server:
            started = time.monotonic()
            status, _, export = call(server, "/api/v1/audit/exports", token=auditor_token, body={"format": "jsonl"})
            assert status == 202 and export["status"] == "queued", export
            assert time.monotonic() - started < LIVENESS  # the broker's absence holds the request for seconds only
        # Committed, and its message waits in the database for the broker.
        assert QueuedTask.objects.filter(task="audit.tasks.audit_export", args=[export["id"]]).exists()

        broker.relay(int(settings.REDIS_URL.rsplit(":", 1)[-1].split("/")[0]))
        with (
            celery("worker", "--pool", "solo", "--without-mingle", "--without-gossip", REDIS_URL=broker_url),
            celery("beat", "--schedule", str(settings.VAR_DIR / "test-beat-schedule"), REDIS_URL=broker_url),
        ):
            finished = (ExportJob.Status.DONE, ExportJob.Status.FAILED)
            done = wait_for(
                lambda: ExportJob.objects.filter(pk=export["id"], status__in=finished).first(), timeout=90, every=0.5
            )
        assert done, "the export did not run within 90 s of the broker coming back"
        assert done.status == ExportJob.Status.DONE, done.error
        assert not QueuedTask.objects.exists()
