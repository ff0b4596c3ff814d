"""The registry of audit actions (audit/actions.py): the trail records nothing else, the code and the registry
agree both ways, and the trail's search, the command and the operator guide read it."""

import ast
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.actions import ACTIONS, action_filter_choices, action_prefixes, actions_markdown
from audit.models import Event
from audit.trail import Actor, event, record
from tests.audit.trail_helpers import write
from tests.helpers import sign_in

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("accord", "accounts", "audit", "charters", "governance")
LITERAL = re.compile(r"""\baction\s*=\s*["']([a-z_]+\.[a-z_]+)["']""")


def modules():
    for package in SOURCES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_every_action_literal_in_the_code_is_registered():
    # Written, or searched for (a filter on an action nothing records would find nothing, for ever).
    literals = {(path.relative_to(REPO), name) for path in modules() for name in LITERAL.findall(path.read_text())}
    assert len(literals) > 40
    assert sorted((str(path), name) for path, name in literals if name not in ACTIONS) == []


def _strings(node, constants=None):
    """The strings an expression can be: a literal, a module's constant, or either branch of a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and constants and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) + _strings(node.orelse, constants)
    return []


def _constants(tree):
    """A module's string constants: ``ALLOW = "decision.allow"`` at its top level."""
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _template(node, parameter):
    """``f"grant.{action}"`` as ``"grant.{}"`` when its one placeholder is ``parameter``; None otherwise."""
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            parts.append(part.value)
        elif isinstance(part.value, ast.Name) and part.value.id == parameter:
            parts.append("{}")
        else:
            return None
    return "".join(parts)


def _action_argument(call):
    return next((keyword.value for keyword in call.keywords if keyword.arg == "action"), None)


def written_actions():
    """Every action the code hands to record() or event(): as a literal there, or through a helper of the same
    module that passes its ``action`` parameter on (``_transition(action="revoked")`` and ``f"grant.{action}"``,
    ``_record_version("charter_version.submitted", ...)``, or a name assigned before the call)."""
    written = set()
    for path in modules():
        tree = ast.parse(path.read_text())
        constants = _constants(tree)
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        helpers = {}  # name -> (position of its action parameter, template)
        for function in functions:
            parameters = [argument.arg for argument in function.args.args + function.args.kwonlyargs]
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                name = getattr(call.func, "id", getattr(call.func, "attr", ""))
                value = _action_argument(call)
                if name not in ("record", "event") or value is None:
                    continue
                written.update(_strings(value, constants))
                if isinstance(value, ast.Name) and value.id in parameters:
                    helpers[function.name] = (parameters.index(value.id), "{}")
                elif "action" in parameters and (template := _template(value, "action")) is not None:
                    helpers[function.name] = (parameters.index("action"), template)
        for function in functions:
            assigned = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    assigned.setdefault(node.targets[0].id, []).extend(_strings(node.value))
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) in helpers):
                    continue
                position, template = helpers[call.func.id]
                value = _action_argument(call)
                if value is None and len(call.args) > position:
                    value = call.args[position]
                names = assigned.get(value.id, []) if isinstance(value, ast.Name) else _strings(value)
                written.update(template.format(name) for name in names)
    return written


def test_what_the_code_records_and_the_registry_agree_both_ways():
    written = written_actions()
    assert {"grant.revoked", "charter_version.submitted", "charter_version.updated", "decision.deny"} <= written
    assert sorted(written - set(ACTIONS)) == []  # recorded, but not registered
    assert sorted(set(ACTIONS) - written) == []  # registered, but nothing records it


def test_every_action_has_a_meaning_and_a_family():
    assert all(action.meaning.endswith(".") and action.meaning[0].isupper() for action in ACTIONS.values())
    assert "grant." in action_prefixes() and all(prefix.endswith(".") for prefix in action_prefixes())


def test_recording_an_action_that_is_not_registered_is_refused_naming_it(db):
    before = Event.objects.count()
    with pytest.raises(ValueError, match=r"'grant\.revokd' is not a registered audit action"), transaction.atomic():
        record(action="grant.revokd", actor=Actor.system("tests"))
    with pytest.raises(ValueError, match=r"decision\.maybe"):
        event(action="decision.maybe", actor=Actor.system("tests"))
    assert Event.objects.count() == before


def test_the_command_prints_the_registry_and_the_operator_guide_carries_it():
    out = StringIO()
    call_command("audit", "actions", stdout=out)
    assert out.getvalue() == actions_markdown()
    assert all(f"| `{name}` | {action.meaning} |" in out.getvalue() for name, action in ACTIONS.items())
    guide = (REPO / "docs" / "operator-guide.md").read_text()
    section = guide.split("<!-- audit actions: begin (python manage.py audit actions) -->\n")[1]
    assert section.split("<!-- audit actions: end -->")[0] == actions_markdown(), (
        "docs/operator-guide.md lists other actions than audit/actions.py: paste `manage.py audit actions` there"
    )


def test_the_trail_page_offers_the_registered_actions(client, auditor):
    sign_in(client, auditor)
    page = client.get("/trail/").content.decode()
    assert '<datalist id="trail-actions">' in page
    assert all(f'<option value="{value}">' in page for value, _ in action_filter_choices())


def test_the_trail_page_leaves_out_an_action_it_does_not_know_and_says_so(client, auditor):
    write(2)
    sign_in(client, auditor)
    response = client.get("/trail/", {"action": "grant.revokd"})
    assert "is not an action the trail records" in response.content.decode()
    assert response.context["filters"]["action"] == "" and len(response.context["events"]) >= 2


def test_the_api_refuses_an_action_filter_it_does_not_know_and_takes_a_family(api_as, auditor):
    write(3, partner="helix")
    caller = api_as(auditor).client
    refused = caller.get("/api/v1/audit/events?action=grant.revokd")
    assert refused.status_code == 400 and "action" in refused.json()["error"]["fields"]
    family = caller.get("/api/v1/audit/events?action=session.&partner=helix")
    assert family.status_code == 200 and len(family.json()["results"]) == 3
