"""One rule for who may do what: every write service names its operation, and the operation table (accounts/
operations.py) alone decides who passes. Each service is called as every role and every system actor; the answer
is checked against the table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

import accounts
import charters
import governance
from accounts.models import User
from accounts.operations import (
    EVERYTHING,
    REFUSALS,
    ROLE_OPERATIONS,
    SERVICES,
    SYSTEM_OPERATIONS,
    Operation,
    may,
)
from accounts.roles import Role
from accounts.services import actor_for, user_create
from audit.models import Event
from audit.trail import Actor
from tests.conftest import SETUP
from tests.helpers import sign_in

# Writers that are not acts of their own: the policy feed's append, which every act that changes the policy makes,
# and the end of decision sessions, which a grant's suspension, hold or revocation and a measurement's removal make.
NOT_ACTS = {"charters.services.policy_feed.policy_changed", "governance.decisions.sessions.sessions_end"}
LAYERS = (
    "services",
    "artefacts",
    "destruction",
    "roles",
    "rollback",
    "expiry",
    "factors",
    "lockout",
    "sessions",
    "proposals",
)


def _modules() -> list[Any]:
    found = []
    for package in (accounts, charters, governance):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1] in LAYERS or ".services." in info.name:
                found.append(importlib.import_module(info.name))
    return found


def _writers() -> dict[str, Callable[..., Any]]:
    """Every public function of the service modules that takes an acting identity ``by``."""
    writers: dict[str, Callable[..., Any]] = {}
    for module in _modules():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            dotted = f"{function.__module__}.{function.__qualname__}"
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            if "by" in inspect.signature(function).parameters and dotted not in NOT_ACTS:
                writers[dotted] = function
    return writers


def test_every_write_service_names_its_operation():
    writers = _writers()
    assert len(writers) >= 45, sorted(writers)  # the walk finds them: it is not silently empty
    assert sorted(set(writers) - set(SERVICES)) == []  # each is decorated with @performs(...)
    assert sorted(set(SERVICES) - set(writers)) == []  # and the register names nothing that is gone
    # Every operation is a service's and someone's (setting up the host only the operator's), each with a refusal.
    assert set(SERVICES.values()) == set(Operation)
    granted = set().union(*ROLE_OPERATIONS.values(), *(ops for ops in SYSTEM_OPERATIONS.values() if ops != EVERYTHING))
    assert set(Operation) - granted == {Operation.HOST_ENSURE}
    assert set(REFUSALS) == set(Operation)


@pytest.fixture
def people(host, partner_a, officer, auditor, a_admin, a_principal):
    nobody = user_create(username="no-role", organisation=host, role=Role.AUDITOR, by=SETUP)
    nobody.groups.clear()
    gone = user_create(username="gone", organisation=host, role=Role.OFFICER, by=SETUP)
    User.objects.filter(pk=gone.pk).update(is_active=False)
    return {
        Role.OFFICER: officer,
        Role.AUDITOR: auditor,
        Role.PARTNER_ADMIN: a_admin,
        Role.PARTNER_PRINCIPAL: a_principal,
        "no role": User.objects.get(pk=nobody.pk),
        "deactivated": User.objects.get(pk=gone.pk),
    }


def _refused_by_the_table(service: Callable[..., Any], by: Actor) -> bool:
    """Call ``service`` as ``by`` with nothing else to act on. The table's check runs first, so a refusal is its
    answer; anything else (a missing object, a scoping check) means the table let ``by`` through."""
    arguments = {
        name: None
        for name, parameter in inspect.signature(service).parameters.items()
        if parameter.default is inspect.Parameter.empty and name != "by"
    }
    try:
        with transaction.atomic():  # whatever the body got to is undone, and the next call starts clean
            service(**arguments, by=by)
    except PermissionDenied as refusal:
        return str(refusal) == REFUSALS[service.operation] and not _is_scoping(refusal)  # type: ignore[attr-defined]
    except Exception:
        return False
    return False


def _is_scoping(refusal: PermissionDenied) -> bool:
    return "not a person" in str(refusal) or "your own partner" in str(refusal)


@pytest.mark.django_db
def test_each_write_service_answers_every_role_as_the_table_says(people):
    mismatches = []
    for dotted, service in sorted(_writers().items()):
        operation = SERVICES[dotted]
        for role, user in people.items():
            expected = operation in ROLE_OPERATIONS.get(role, frozenset()) if isinstance(role, Role) else False
            assert may(user, operation) is expected, (dotted, role)
            if _refused_by_the_table(service, actor_for(user)) == expected:
                mismatches.append(f"{dotted} as {role}: {'refused' if expected else 'let through'}")
    assert mismatches == []


@pytest.mark.django_db
def test_each_write_service_answers_every_system_actor_as_the_table_says(people):
    actors = [*SYSTEM_OPERATIONS, "manage.py add_user", "a-rogue-task"]
    mismatches = []
    for dotted, service in sorted(_writers().items()):
        operation = SERVICES[dotted]
        for name in actors:
            expected = name.startswith("manage.py ") or operation in SYSTEM_OPERATIONS.get(name, frozenset())
            if _refused_by_the_table(service, Actor.system(name)) == expected:
                mismatches.append(f"{dotted} as {name}: {'refused' if expected else 'let through'}")
    assert mismatches == []


@pytest.mark.django_db
def test_an_actor_read_back_from_the_trail_carries_no_user_and_may_do_nothing(officer):
    # The trail's name for Olivia, without the user behind it: what a caller that built an Actor by hand would pass.
    by = Actor(type=Event.ActorType.USER, id=str(officer.pk), label=officer.username)
    assert by == actor_for(officer)  # the same name in the trail...
    assert not any(may(by, operation) for operation in Operation)  # ...but nobody to ask the table about


@pytest.mark.django_db
def test_a_refusal_is_a_403_with_the_tables_words_on_the_page_and_in_the_api(client, a_admin, make_grant):
    grant = make_grant()
    sign_in(client, a_admin)
    page = client.post(f"/grants/{grant.pk}/revoke/", {"reason": "Mine to end?"})
    assert page.status_code == 403 and REFUSALS[Operation.GRANT_REVOKE] in page.content.decode()
    grant.refresh_from_db()
    assert grant.status == "active"
