"""A measurement taken off its allow-list ends the sessions attested on it in every process within a second
(issue 26): three servers as deployed, each one process that has read the session, polled with a deadline."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from charters.services.policy_feed import policy_head
from governance.attestation.measurements import measurement_remove
from governance.models import Measurement
from governance.policy import live
from tests.conftest import committing
from tests.governance import test_attestation_decisions as attested_world
from tests.helpers import wait_for
from tests.processes import web_server

kit = attested_world.kit
live_charter = attested_world.live_charter
serving = attested_world.serving

DEADLINE = 1.0  # seconds from the removal's commit to every process denying


def call(url: str, token: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url + path,
        data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        answer: dict[str, Any] = json.load(response)
        return answer


def worker_pid(master: int) -> int:
    [child] = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(child)


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_a_removed_measurement_ends_its_sessions_in_every_process_within_a_second(
    make_grant, api_as, a_principal, atlas, kit, officer, serving
):
    make_grant(requires_attestation=True)
    token = api_as(a_principal).token
    asked = {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}
    env = {
        "ACCORD_WEB_WORKERS": "1",
        "ACCORD_ATTESTATION_VERIFIERS_FILE": str(settings.ACCORD_ATTESTATION_VERIFIERS_FILE),
    }
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(web_server(**env)) for _ in range(3)]
        nonce = call(servers[0].url, token, "/api/v1/attestation/nonce")["nonce"]
        evidence = {"verifier": "azure-prod", "evidence": kit.azure(nonce)}
        session = call(servers[0].url, token, "/api/v1/sessions", {**asked, "context": {"attestation": evidence}})
        with_session = {**asked, "context": {"session": session["session"]}}
        # Every process reads the session once and keeps it.
        assert all(call(server.url, token, "/api/v1/decisions", with_session)["allow"] for server in servers)
        pids = {server.url: worker_pid(server.process.pid) for server in servers}

        entry = Measurement.objects.get(allow_list=serving, platform="snp")
        measurement_remove(officer=officer, entry=entry, reason="The image has a known flaw.")
        removed, version = time.monotonic(), policy_head().seq

        # Without a decision: each process's listener applies the change from the channel and reports it.
        def heard() -> bool:
            reports = live.process_reports()
            return all(
                (reports.get(f"{socket.gethostname()}:{pid}") or {}).get("version", 0) >= version
                for pid in pids.values()
            )

        assert wait_for(heard, timeout=DEADLINE, every=0.01), f"not every process applied {version} within 1 s"
        # And each one denies the session, polled until the deadline.
        denied_after: dict[str, float] = {}
        while len(denied_after) < len(servers) and time.monotonic() - removed < DEADLINE:
            for server in servers:
                if server.url not in denied_after:
                    answer = call(server.url, token, "/api/v1/decisions", with_session)
                    if not answer["allow"]:
                        assert answer["reasons"][0]["code"] == "attestation_measurement_removed"
                        denied_after[server.url] = time.monotonic() - removed
        assert len(denied_after) == len(servers), f"only {len(denied_after)} of 3 processes denied within 1 s"
        # No process goes back to allowing it.
        assert not any(call(server.url, token, "/api/v1/decisions", with_session)["allow"] for server in servers)
