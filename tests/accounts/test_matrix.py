"""The authorization matrix (accounts/matrix.py): every URL pattern has an entry, every entry a URL, and every
address answers each persona as its cell says: allowed (never 401 or 403), refused (403, or the login and 401 for
someone not signed in). The requests carry sample ids, so an allowed call usually ends in a 404 or a 400: what is
checked is who gets past the door, not what the act does (each act's own tests do that)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import matrix
from accounts.scopes import scopes_for_issue
from tests.helpers import every_route, sign_in

ROUTES = every_route()
REDIRECT_TO_LOGIN = {"logout", "admin-login"}  # where the login is the answer, not a refusal
PERSONAS = ["officer", "auditor", "a_admin", "a_principal", "anonymous"]


def addresses() -> list[tuple[str, str, str, dict[str, str]]]:
    """(url name, path, method, kwargs) for every method every address answers; a step endpoint once per step."""
    found = []
    for name, parameters in ROUTES:
        entry = matrix.access_for(name)
        if entry is None or name.startswith("admin:"):
            continue
        for method, rule in entry.methods.items():
            steps = rule.operations if isinstance(rule, matrix.ByStep) else {"": None}
            for step in steps:
                kwargs = {param: _SAMPLE[converter] for param, converter in parameters.items()}
                if isinstance(rule, matrix.ByStep):
                    kwargs[rule.param] = step
                found.append((name, reverse(name, kwargs=kwargs), method, kwargs))
    return found


# Ids no fixture object has: an allowed call must not act on the caller's own token, say.
_SAMPLE = {"int": "999999", "slug": "x", "str": "x", "path": "1", "uuid": "00000000-0000-0000-0000-000000000001"}


def test_every_url_pattern_has_an_entry_and_every_entry_a_pattern():
    names = {name for name, _ in ROUTES}
    assert sorted(name for name in names if matrix.access_for(name) is None) == []
    assert sorted(set(matrix.MATRIX) - names) == []


def test_each_api_entry_names_exactly_the_methods_its_view_answers():
    from django.urls import get_resolver

    mismatched = []
    for name, path in sorted({(name, path) for name, path, _, _ in addresses()}):
        cls = getattr(get_resolver().resolve(path).func, "cls", None)
        if cls is None:
            continue
        answered = {method.upper() for method in ("get", "post", "put", "patch", "delete") if hasattr(cls, method)}
        declared = set(matrix.MATRIX[name].methods)
        if answered != declared:
            mismatched.append(f"{name}: the view answers {sorted(answered)}, the matrix names {sorted(declared)}")
    assert mismatched == []


def test_an_api_view_takes_no_credentials_exactly_where_the_matrix_lets_anyone_in():
    from django.urls import get_resolver

    wrong = []
    for name, path, method, _ in addresses():
        cls = getattr(get_resolver().resolve(path).func, "cls", None)
        if cls is None or name in ("schema", "api-docs"):  # drf-spectacular's own views
            continue
        public = cls.authentication_classes == []
        anyone = matrix.rule_for(matrix.access_for(name), method) == matrix.Audience.ANYONE
        if public != anyone:
            wrong.append(f"{name} {method}: takes no credentials {public}, anyone {anyone}")
    assert wrong == []


def test_an_address_without_an_entry_answers_no_one(client, officer, monkeypatch):
    sign_in(client, officer)
    monkeypatch.delitem(matrix.MATRIX, "grant-list")
    monkeypatch.delitem(matrix.MATRIX, "api:grant-list")
    assert client.get("/grants/").status_code == 403
    api = client.get("/api/v1/grants")
    assert api.status_code == 403 and "no entry in Accord's authorization matrix" in api.json()["error"]["message"]


def test_a_method_the_matrix_does_not_name_is_a_405_before_the_view(client, officer):
    sign_in(client, officer)
    assert client.delete("/grants/").status_code == 405
    assert client.put("/api/v1/grants").status_code == 405


ALLOWED = 0


def _expected(user: Any, entry: matrix.Access, method: str, kwargs: dict[str, str], api: bool) -> int:
    """The cell: ALLOWED, or the status that refuses (401 or the login for a visitor, 403, or 404 for a partner's
    people at an address naming an object they may not act on)."""
    if user is not None and user.is_service and not api:
        user = None  # principals have no web session: a page sees a visitor
    rule = matrix.operation_of(matrix.rule_for(entry, method), kwargs)  # type: ignore[arg-type]
    if rule == matrix.Audience.ANYONE:
        return ALLOWED
    if user is None:
        return 401 if api else 302
    scoped = not api or bool(scopes_for_issue(user, None) & entry.scopes)
    if scoped and matrix.allows(user, rule):
        return ALLOWED
    return 404 if matrix.hidden_from(user, entry, kwargs) else 403


def _call(client: Any, method: str, path: str, api: bool) -> Any:
    send = getattr(client, method.lower())
    return send(path, {}, format="json") if api else send(path)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_address_answers_each_persona_as_the_matrix_says(request, persona, api_as):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    page = Client()
    api: Any = APIClient()
    if user is not None and not user.is_service:
        sign_in(page, user)
    if user is not None:
        api = api_as(user).client
    wrong = []
    for name, path, method, kwargs in addresses():
        entry = matrix.MATRIX[name]
        is_api = path.startswith("/api/")
        want = _expected(user, entry, method, kwargs, is_api)
        response = _call(api if is_api else page, method, path, is_api)
        to_login = response.status_code == 302 and response["Location"].startswith("/login/")
        if want == ALLOWED:
            if response.status_code in (401, 403) or (to_login and name not in REDIRECT_TO_LOGIN):
                wrong.append(f"{method} {path} ({name}): refused with {response.status_code}, the matrix allows it")
        elif response.status_code != want or (want == 302 and not to_login):
            wrong.append(f"{method} {path} ({name}): {response.status_code}, the matrix says {want}")
        if name == "logout" and user is not None and not user.is_service:
            sign_in(page, user)
    assert wrong == []


def test_the_cells_are_the_operation_tables():
    """Spot checks that read like the table: the matrix adds no rule of its own to an operation."""
    from accounts.operations import ROLE_OPERATIONS, Operation
    from accounts.roles import Role

    assert matrix.MATRIX["api:grant-transition"].methods["POST"] == matrix.GRANT_STEPS
    assert matrix.GRANT_STEPS.operations["approve"] == Operation.GRANT_DECIDE
    assert Operation.GRANT_DECIDE in ROLE_OPERATIONS[Role.OFFICER]
    assert Operation.GRANT_DECIDE not in ROLE_OPERATIONS[Role.AUDITOR]


@pytest.mark.parametrize("persona", ["officer", "auditor", "a_admin", "a_principal"])
def test_the_printed_matrix_reads_each_rule_as_the_requests_do(request, persona, db):
    from accounts.operations import roles_of

    user = request.getfixturevalue(persona)
    [role] = roles_of(user)
    rules = {
        resolved
        for entry in matrix.MATRIX.values()
        for rule in entry.methods.values()
        for resolved in (rule.operations.values() if isinstance(rule, matrix.ByStep) else [rule])
    }
    assert {rule: matrix.allows_role(role, rule) for rule in rules} == {
        rule: matrix.allows(user, rule) for rule in rules
    }


def test_the_command_prints_every_address_and_no_address_without_an_entry(db):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("access_matrix", "--csv", stdout=out)
    printed = {line.split(",")[1] for line in out.getvalue().splitlines()[1:]}
    assert set(matrix.MATRIX) <= printed and "NO ENTRY" not in out.getvalue()
