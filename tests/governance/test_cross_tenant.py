"""The cross-tenant suite, generated from the authorization matrix: for every address that names an object of one
of the kinds a partner has (accounts/matrix.py, ``names``), with Northwind's object of that kind in the URL, Helix's
admin and principal get a 404 exactly as for an object that is not there (never a 403), an auditor's writes are
refused, a visitor is sent to log in (or gets a 401), and no answer holds anything of Northwind's. Every address
that lists (a GET naming no object) shows Helix's people nothing of Northwind's either.

A new address joins the suite by its matrix entry; a new kind of object must be given a Northwind instance below,
or the first test fails."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import matrix
from accounts.proposals import proposal_make
from accounts.services import actor_for, api_token_issue
from audit.exports import export_queue
from governance.attestation.measurements import measurement_add, measurement_list_create
from governance.exits.services import exit_run, exit_start
from governance.grants.roles import partner_role_create
from governance.incidents.services import incident_declare
from governance.models import DestructionCertificate, ExitItem
from governance.reviews.services import review_start
from governance.vault import artefacts
from governance.vault.destruction import destructions_run
from tests.helpers import every_route, second_officer_confirming, sign_in

# Kinds that are no partner's: the host's own policy, replays, measurement allow-lists and the caller's own sessions.
NOT_A_PARTNERS = {"bundle", "what-if", "measurement list", "own session"}
PUBLIC = (matrix.Audience.ANYONE, matrix.Audience.ADMIN_SITE)  # the same for everyone (the schema's examples)
NORTHWIND = "northwind"  # in the slug of the partner, its charter, its people and principals: never in an answer


@pytest.fixture
def northwind(live_charter, northwind_holdings, partner_a, a_admin, a_principal, officer, demo_registry):
    """One object of each kind a partner has, all Northwind's, as the URL parameters that name it."""
    charter = live_charter.charter
    grant = northwind_holdings["grants"][0]
    role = partner_role_create(partner=partner_a, slug="northwind-jobs", by=actor_for(a_admin))
    token, _ = api_token_issue(user=a_admin, name="northwind ci", by=actor_for(a_admin))
    incident = incident_declare(
        charter=charter, title="Northwind drill", severity="low", summary="A drill.", drill=True, by=actor_for(officer)
    )
    review = review_start(charter=charter, by=actor_for(officer))
    proposal = proposal_make(
        kind="charter_end", target=charter.slug, reason="Northwind is done.", by=actor_for(officer)
    )
    export = export_queue(
        by=actor_for(a_admin), requested_by=str(a_admin.pk), scope=partner_a.slug, fmt="jsonl", since=None, until=None
    )
    own_suite = demo_registry["northwind-eval-suite 1.0"]
    artefacts.artefact_store(
        source=io.BytesIO(b"suite"), name="suite.bin", kind="asset_file", asset_version=own_suite, by=actor_for(officer)
    )
    model = northwind_holdings["model"]
    with second_officer_confirming("charter_end"):
        exit_ = exit_run(exit_start(charter=charter, by=actor_for(officer), reason="Study over.").pk)
    destructions_run(now=timezone.now() + timedelta(days=800))
    certificate = DestructionCertificate.objects.filter(partner=partner_a).first()
    assert certificate is not None
    return {
        "charter": {"slug": charter.slug},
        "charter version": {"slug": charter.slug, "number": live_charter.number},
        "asset": {"pk": own_suite.asset_id},
        "grant": {"pk": grant.pk},
        "role": {"slug": role.slug},
        "token": {"pk": token.pk},
        "principal": {"username": a_principal.username},
        "person": {"username": a_admin.username},
        "incident": {"pk": incident.pk, "position": 1},
        "incident step": {"pk": incident.pk, "position": 1},
        "review": {"pk": review.pk},
        "proposal": {"pk": proposal.pk},
        "export": {"pk": export.pk, "part": "manifest"},
        "exit": {"pk": exit_.pk, "item": ExitItem.objects.filter(exit=exit_).first().pk},
        "certificate": {"number": certificate.number},
        "key": {"key_id": model.data_key.key_id},
        "artefact": {"uid": model.uid},
    }


def object_addresses(objects: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(url name, path, method) for every address naming an object of a partner's kind, with Northwind's."""
    found = []
    for name, parameters in every_route():
        entry = matrix.access_for(name)
        if entry is None or not entry.names or entry.names in NOT_A_PARTNERS:
            continue
        for method, rule in entry.methods.items():
            steps = list(rule.operations) if isinstance(rule, matrix.ByStep) else [None]
            for step in steps:
                kwargs = {param: objects[entry.names][param] for param in parameters if param not in _step(rule)}
                if isinstance(rule, matrix.ByStep):
                    kwargs[rule.param] = step
                found.append((name, reverse(name, kwargs=kwargs), method))
    return found


def _step(rule: matrix.Rule) -> set[str]:
    return {rule.param} if isinstance(rule, matrix.ByStep) else set()


def test_every_kind_a_partner_has_is_in_the_suite(northwind):
    kinds = {entry.names for entry in matrix.MATRIX.values() if entry.names} - NOT_A_PARTNERS
    assert sorted(kinds - set(northwind)) == []


def _send(client: Any, method: str, path: str) -> Any:
    if path.startswith("/api/"):
        return getattr(client, method.lower())(path, {"reason": "Mine now.", "version": 1}, format="json")
    return getattr(client, method.lower())(path, {"reason": "Mine now."})


def _leaks(response: Any) -> bool:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return NORTHWIND in body.decode(errors="replace").lower()


@pytest.mark.parametrize("persona", ["b_admin", "b_principal"])
def test_the_other_partners_people_get_a_404_for_every_object_and_learn_nothing(request, persona, northwind, api_as):
    user = request.getfixturevalue(persona)
    page, api = Client(), api_as(user).client
    if not user.is_service:
        sign_in(page, user)
    wrong = []
    for name, path, method in object_addresses(northwind):
        is_api = path.startswith("/api/")
        response = _send(api if is_api else page, method, path)
        if user.is_service and not is_api:
            ok = response.status_code == 302 and response["Location"].startswith("/login/")
        else:
            ok = response.status_code == 404
        if not ok or _leaks(response):
            wrong.append(f"{method} {path} ({name}): {response.status_code} {response.content[:160]!r}")
    assert wrong == []


def test_an_auditor_writes_nothing_of_a_partners_and_a_visitor_is_asked_to_log_in(client, northwind, auditor, api_as):
    sign_in(client, auditor)
    auditor_api = api_as(auditor).client
    visitor_page, visitor_api = Client(), APIClient()
    wrong = []
    for name, path, method in object_addresses(northwind):
        is_api = path.startswith("/api/")
        if method == "POST":
            refused = _send(auditor_api if is_api else client, method, path)
            if refused.status_code not in (403, 404) or _leaks(refused):
                wrong.append(f"auditor {method} {path} ({name}): {refused.status_code}")
        visitor = _send(visitor_api if is_api else visitor_page, method, path)
        asked = visitor.status_code == 401 if is_api else visitor["Location"].startswith("/login/")
        if not asked or _leaks(visitor):
            wrong.append(f"visitor {method} {path} ({name}): {visitor.status_code}")
    assert wrong == []


def test_every_list_shows_the_other_partners_people_nothing_of_northwinds(northwind, b_admin, b_principal, api_as):
    page = Client()
    sign_in(page, b_admin)
    callers = {"b_admin": (page, api_as(b_admin).client), "b_principal": (None, api_as(b_principal).client)}
    wrong = []
    for name, parameters in every_route():
        entry = matrix.access_for(name)
        if entry is None or parameters or entry.methods.get("GET") in (None, *PUBLIC):
            continue
        path = reverse(name)
        for persona, (web, api) in callers.items():
            client = api if path.startswith("/api/") else web
            if client is not None and _leaks(client.get(path)):
                wrong.append(f"{persona} GET {path} ({name})")
    assert wrong == []


def test_the_hosts_measurement_lists_are_refused_to_every_partners_people_as_the_matrix_says(
    client, officer, a_admin, b_admin
):
    """The allow-lists are the host's alone: a partner admin gets the matrix's refusal, the 403 for the index and
    the 404 for a list (as for a list that is not there, so its name is not confirmed), and changes nothing."""
    allow_list = measurement_list_create(officer=officer, name="atlas-serving", title="")
    entry = measurement_add(
        officer=officer, allow_list=allow_list, platform="snp", values={"launch_measurement": "ab" * 48}
    )
    detail = reverse("measurement-list", kwargs={"name": allow_list.name})
    remove = reverse("measurement-remove", kwargs={"name": allow_list.name, "pk": entry.pk})
    for admin in (a_admin, b_admin):
        sign_in(client, admin)
        index = client.get(reverse("measurement-lists"))
        assert index.status_code == 403 and "officers and auditors" in index.content.decode()
        assert client.post(reverse("measurement-lists"), {"name": "mine"}).status_code == 403
        for response in (
            client.get(detail),
            client.post(detail, {"platform": "snp", "launch_measurement": "cd" * 48}),
            client.post(remove, {"reason": "Mine now."}),
        ):
            assert response.status_code == 404 and "atlas-serving" not in response.content.decode()
    allow_list.refresh_from_db()
    assert allow_list.version == 2 and allow_list.entries.filter(removed_at__isnull=True).count() == 1
