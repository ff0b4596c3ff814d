"""Plain helpers the tests share (no fixtures: those are in tests/conftest.py and the plugins it names).

Tests import from here, never from one another: a test module's helpers are its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from accord.celery import app as celery_app

REPO = Path(__file__).resolve().parents[1]

# The repository's own policy test cases.
REPO_CASES = sorted((REPO / "policy_tests").glob("*.yaml"))


def wait_for(check: Callable[[], Any], *, timeout: float, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def needs_the_real_broker() -> None:
    """Skip unless this run has PostgreSQL and the Redis broker (the tests are marked for both as well)."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and the Redis broker")


# --- Redelivery: a Celery worker of its own, on a queue of its own, that a test may kill midway ---------------

QUEUE = "redelivery-test"


def worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "accord",
            "worker",
            "--pool",
            "solo",
            "-Q",
            QUEUE,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def take_queued(task: str) -> list[Any]:
    """Take every message waiting in the configured broker's default queue, as a worker would, and return the
    arguments of the ``task`` messages among them (so nothing is left for a later test's worker)."""
    queue = celery_app.conf.task_default_queue  # "celery": its exchange and routing key are named the same
    runs: list[Any] = []
    with celery_app.connection_for_read() as connection, connection.SimpleQueue(queue, no_ack=False) as waiting:
        while True:
            try:
                message = waiting.get(timeout=0.5)
            except waiting.Empty:
                return runs
            if message.headers.get("task") == task:
                runs.append(message.payload[0])
            message.ack()


# --- Migrations, there and back ----------------------------------------------------------------------------------


def migrate_to(*targets: tuple[str, str]) -> Any:
    """Migrate the test database to ``targets``; the models as they were there."""
    from django.db.migrations.executor import MigrationExecutor

    MigrationExecutor(connection).migrate(list(targets))
    return MigrationExecutor(connection).loader.project_state(list(targets)).apps


def migrate_to_latest() -> None:
    from django.db.migrations.executor import MigrationExecutor

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


# --- Decisions through the API ----------------------------------------------------------------------------------


def ask(caller, asset, action="infer", purpose="safety-evaluation", **context):
    response = caller.client.post(
        "/api/v1/decisions", {"action": action, "asset": asset, "purpose": purpose, "context": context}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def codes(answer):
    return [reason["code"] for reason in answer["reasons"]]


def decide(caller: Any, asset: str) -> dict[str, Any]:
    """An infer-for-benchmarking decision asked through the API as ``caller`` (a tests.conftest.Caller)."""
    response = caller.client.post(
        "/api/v1/decisions", {"action": "infer", "asset": asset, "purpose": "benchmarking"}, format="json"
    )
    assert response.status_code == 200, response.content
    answer: dict[str, Any] = response.json()
    return answer


# --- Decisions through the service, as a gateway's traffic for the anomaly checks -------------------------------


def used(
    principal: Any,
    asset: str,
    times: int,
    *,
    action: str = "infer",
    address: str | None = None,
    at: datetime | None = None,
) -> list[Any]:
    """``times`` decisions on ``asset`` asked by ``principal`` for benchmarking, from ``address``, at ``at`` (the
    clock stopped there) or now."""
    from audit.context import request_context
    from governance.decisions.services import DecisionRequest
    from governance.decisions.services import decide as decide_now

    moment = time_machine.travel(at, tick=False) if at else contextlib.nullcontext()
    with moment, request_context(request_id="", client_address=address):
        return [decide_now(principal, DecisionRequest(action, asset, "benchmarking")) for _ in range(times)]


def spiked(principal: Any, asset: str, *, at: datetime) -> list[Any]:
    """A burst of 25 uses five minutes before ``at``, over the default usage-spike floor of 20, and the anomaly
    checks run at ``at``: the findings they made."""
    from governance.anomalies.services import anomalies_check

    used(principal, asset, 25, at=at - timedelta(minutes=5))
    with time_machine.travel(at, tick=False):
        return anomalies_check()


def status_of(grant):
    grant.refresh_from_db()
    return grant.status


def sign_in(client: Any, user: Any) -> None:
    """Log ``user`` in to the web as a finished login leaves them: password and second factor, the factor given
    just now (so irreversible acts need no step-up). The tests of the login itself go through its pages."""
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.sessions import VERIFIED

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[VERIFIED] = timezone.now().isoformat()
    session.save()


def persona_totp_key(username: str) -> str:
    """The hex secret of a test persona's authenticator app: derived from the name, so no database is needed to
    know it (browser tests type codes while Django refuses them the ORM)."""
    return hashlib.sha1(f"accord test authenticator {username}".encode()).hexdigest()  # noqa: S324 - a test key


def persona_code(username: str, *, steps_ahead: int = 0) -> str:
    """The code a persona's authenticator app shows now (or ``steps_ahead`` 30-second steps later: a code is
    accepted once, so a second login within the same step types the next one)."""
    from django_otp.oath import TOTP

    return f"{TOTP(bytes.fromhex(persona_totp_key(username)), drift=steps_ahead).token():06d}"


_SAMPLES = {
    "int": "1",
    "slug": "x",
    "str": "x",
    "path": "1",
    "uuid": "00000000-0000-0000-0000-000000000001",
}


def every_address() -> list[tuple[str, str]]:
    """Every address of the URL patterns, the admin's included, as (path, view name), with a sample value in
    each parameter: generated, so that a page added later is in the list without anyone remembering it.
    Patterns written as regular expressions (two of the admin's) get their value by hand."""
    import re

    from accounts.matrix import url_patterns

    found = []
    for route, name in url_patterns():
        if "(?P<url>" in route:
            route = "/admin/no-such-page/"  # the admin's catch-all
        route = re.sub(r"\^\(\?P<app_label>[^)]*\)/\$", "governance/", route)
        route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLES[m.group(1) or "str"], route)
        found.append((route.replace("^", "").replace("$", ""), name))
    return sorted(set(found))


@contextlib.contextmanager
def second_officer_confirming(kind: str, *, proposed_by: str = "oscar") -> Iterator[None]:
    """Run an act that takes two officers (ending a charter, a rollback, destroying a key now, a factor reset) as
    the second officer confirming a proposal of ``kind``, for the tests of the act itself. The proposals are tested
    through their own services and pages in tests/accounts/test_proposals.py."""
    from audit.context import Confirmation, confirmed

    with confirmed(Confirmation(proposal=0, kind=kind, proposed_by=proposed_by, confirmed_by="olivia")):
        yield


def every_route() -> list[tuple[str, dict[str, str]]]:
    """Every named URL pattern as (``namespace:name``, {parameter: converter}), for tests that reverse them with
    values of their own (the authorization matrix's). The admin's regular-expression patterns have no converters."""
    import re

    from accounts.matrix import url_patterns

    routes = {}
    for route, name in url_patterns():
        routes[name] = {m.group(2): m.group(1) or "str" for m in re.finditer(r"<(?:(\w+):)?(\w+)>", route)}
    return sorted(routes.items())
