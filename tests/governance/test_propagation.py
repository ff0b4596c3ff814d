"""A change reaches every process: in place at the next decision (the version check), from the channel without
any decision (the listener), and across every worker of a multi-process gunicorn server."""

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from accounts.services import actor_for
from charters.models import PolicyChange, PolicyHead
from charters.services.charters import charter_resume, charter_suspend
from charters.services.policy_feed import policy_head
from governance.decisions import services as decisions
from governance.grants.roles import partner_role_add_member, partner_role_remove_member
from governance.grants.services import grant_hold, grant_release, grant_revoke, grant_suspend
from governance.models import PartnerRole
from governance.policy import live
from tests.conftest import SETUP, committing
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


def answer(principal, atlas, purpose="safety-evaluation"):
    request = decisions.DecisionRequest(action="infer", asset=atlas, purpose=purpose)
    decision = decisions.decide(principal, request)
    return "allow" if decision.allow else decision.reasons[0]["code"]


# --- In place, at the next decision ---------------------------------------------------------------------


def test_a_revocation_is_denied_at_the_next_decision_with_no_message_and_no_reload(make_grant, a_principal, atlas):
    grant = make_grant()
    assert answer(a_principal, atlas) == "allow"
    snapshot = live.current()
    # No listener runs here: the announcement is lost, and the version check before the decision catches up.
    grant_revoke(grant=grant, by=SETUP, reason="Access no longer needed.")
    assert answer(a_principal, atlas) == "no_grant"
    assert live.current() is snapshot, "the change was applied in place, not by loading the policy again"
    assert snapshot.version.seq == policy_head().seq and grant.pk not in snapshot.grants


def test_each_kind_of_change_reaches_the_snapshot(make_grant, a_principal, partner_a, live_charter, atlas):
    grant = make_grant()
    assert answer(a_principal, atlas) == "allow"
    grant_suspend(grant=grant, by=SETUP, reason="Anomaly under review.")
    assert answer(a_principal, atlas) == "grant_suspended"
    grant.refresh_from_db()
    grant_hold(grant=grant, by=SETUP, reason="Incident 12.")
    assert answer(a_principal, atlas) == "grant_suspended"
    grant_release(grant=grant, by=SETUP, reason="Incident closed.")
    charter = live_charter.charter
    charter_suspend(charter=charter, by=SETUP, reason="Audit.")
    assert answer(a_principal, atlas) == "charter_suspended"
    charter_resume(charter=charter, by=SETUP, reason="Audit done.")
    assert answer(a_principal, atlas) == "grant_suspended"


def test_removing_a_member_from_a_role_denies_at_once(make_grant, a_principal, a_admin, partner_a, atlas):
    role = PartnerRole.objects.create(partner=partner_a, slug="eval-jobs")
    partner_role_add_member(role=role, principal=a_principal, by=actor_for(a_admin))
    make_grant(principal=None, partner_role=role)
    assert answer(a_principal, atlas) == "allow"
    snapshot = live.current()
    partner_role_remove_member(role=role, principal=a_principal, by=actor_for(a_admin))
    assert answer(a_principal, atlas) == "no_grant"
    assert live.current() is snapshot


def test_a_snapshot_from_another_history_is_loaded_again(make_grant, a_principal, atlas):
    """As after a database restore: the change the snapshot was at now carries another token."""
    grant = make_grant()
    snapshot = live.current()
    PolicyChange.objects.filter(seq=snapshot.version.seq).update(token="restored")
    PolicyHead.objects.filter(pk=1).update(token="restored")
    grant_suspend(grant=grant, by=SETUP, reason="After the restore.")
    assert answer(a_principal, atlas) == "grant_suspended"
    assert live.current() is not snapshot


def test_a_rolled_back_change_leaves_no_trace_in_the_feed(make_grant):
    grant = make_grant()
    head = policy_head()
    with pytest.raises(RuntimeError), transaction.atomic():
        grant_suspend(grant=grant, by=SETUP, reason="Undone.")
        raise RuntimeError("the caller fails after the change")
    assert policy_head() == head and not PolicyChange.objects.filter(seq__gt=head.seq).exists()


# --- From the channel, with no decision -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_the_listener_applies_an_announced_change_before_any_decision(make_grant):
    grant = make_grant()
    live.start()
    try:
        snapshot = live.current()
        assert grant.pk in snapshot.grants
        grant_revoke(grant=grant, by=SETUP, reason="Revoked while nobody asks.")
        target = policy_head()
        # Nothing here calls current(): only the listener thread can move the snapshot.
        assert wait_for(lambda: snapshot.version == target, timeout=5.0, every=0.01), (
            "the listener did not apply the change within 5 s"
        )
        assert grant.pk not in snapshot.grants
    finally:
        live.stop()


# --- Every process of a multi-process server ------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(child) for child in path.read_text().split()} if path.exists() else set()


def post(port, token, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/decisions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        return json.load(response)


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_a_revocation_is_denied_by_every_process_of_a_multi_process_server(make_grant, api_as, a_principal, atlas):
    grant = make_grant()
    token = api_as(a_principal).token
    database = settings.DATABASES["default"]
    port, workers = free_port(), 3
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        # The test's install, so the server hears the policy channel this process announces on.
        "ACCORD_INSTALL_NAME": settings.ACCORD_INSTALL_NAME,
        "DJANGO_SETTINGS_MODULE": "accord.settings",
        # The server as deployed (accord/gunicorn_conf.py), sized and quietened through its environment.
        "ACCORD_WEB_WORKERS": str(workers),
        "ACCORD_WEB_ACCESS_LOG": "false",
        "ACCORD_LOG_LEVEL": "WARNING",
    }
    connection.close()  # the server's processes and this one each use their own connections
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
    )
    try:

        def reporting():
            reports = live.process_reports()
            pids = children(server.pid)
            return {pid: reports.get(f"{socket.gethostname()}:{pid}") for pid in pids} if len(pids) == workers else {}

        assert wait_for(lambda: reporting() and all(reporting().values()), timeout=30, every=0.01), (
            "workers did not start"
        )
        body = {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}
        assert all(post(port, token, body)["allow"] for _ in range(3 * workers))

        grant_revoke(grant=grant, by=SETUP, reason="Revoked under load.")
        version = policy_head().seq
        assert wait_for(
            lambda: all(report["version"] >= version for report in reporting().values()), timeout=5, every=0.01
        ), f"not every worker applied version {version} within 5 s: {reporting()}"
        answers = [post(port, token, body) for _ in range(10 * workers)]
        assert {tuple(reason["code"] for reason in answer["reasons"]) for answer in answers} == {("no_grant",)}
    finally:
        server.terminate()
        server.wait(timeout=30)
