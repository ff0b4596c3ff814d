"""The claims policy grammar: what an attestation's claims must say, in the grammar of Azure Secure Key Release
release policies, so a policy written for Azure reads the same here.

A policy is ``{"allOf": [...]}`` (every item met) or ``{"anyOf": [...]}`` (at least one met), whose items are
nested policies or claim rules ``{"claim": "<dotted name>", "<operator>": value}`` with exactly one operator:
``equals``, ``notEquals``, ``less``, ``lessOrEquals``, ``greater``, ``greaterOrEquals`` (numbers) or ``exists``
(true or false). A claim's dotted name is a path into the claims' nested objects.

``policy_problems`` says what is wrong with a policy (charter guardrails show it to the person who wrote it);
``policy_unmet`` says which rule a set of claims fails, or None when they meet the policy. Neither raises on any
JSON value: a claim of the wrong type fails its rule with a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# How each operator reads in a message, and how it compares (actual, expected) once the kinds agree.
_COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "equals": ("must equal", lambda actual, expected: actual == expected),
    "notEquals": ("must not equal", lambda actual, expected: actual != expected),
    "less": ("must be less than", lambda actual, expected: actual < expected),
    "lessOrEquals": ("must be at most", lambda actual, expected: actual <= expected),
    "greater": ("must be greater than", lambda actual, expected: actual > expected),
    "greaterOrEquals": ("must be at least", lambda actual, expected: actual >= expected),
}
ORDERINGS = ("less", "lessOrEquals", "greater", "greaterOrEquals")
OPERATORS = (*_COMPARISONS, "exists")
COMBINATORS = ("allOf", "anyOf")
# Deeper than this is no policy a person wrote, and would only cost a decision its stack.
MAX_DEPTH = 16

_OPERATOR_LIST = ", ".join(OPERATORS)
_MISSING = object()


def policy_problems(policy: Any) -> list[str]:
    """Every problem with ``policy``, each naming where it is (``allOf[1].anyOf[0]``) and what to do; [] when the
    policy is well formed."""
    problems: list[str] = []
    _check_policy(policy, "policy", 1, problems)
    return problems


def policy_unmet(policy: Any, claims: Mapping[str, Any]) -> str | None:
    """None when ``claims`` meet ``policy``; otherwise a message naming the claim and the rule that failed. A policy
    that is not well formed is met by no claims (its first problem is the message)."""
    problems = policy_problems(policy)
    if problems:
        return f"The claims policy is not valid: {problems[0]}"
    return _unmet(policy, claims)


# --- Checking a policy --------------------------------------------------------------------------------------


def _check_policy(policy: Any, where: str, depth: int, problems: list[str]) -> None:
    if not isinstance(policy, dict):
        shape = '{"allOf": [...]} or {"anyOf": [...]}'
        problems.append(f"{where}: a policy is an object, {shape}, not {_kind(policy)}")
        return
    if depth > MAX_DEPTH:
        problems.append(f"{where}: policies nest at most {MAX_DEPTH} levels deep")
        return
    combinators = [key for key in COMBINATORS if key in policy]
    others = sorted(str(key) for key in policy if key not in COMBINATORS)
    if len(combinators) != 1:
        given = " and ".join(combinators) or "neither"
        problems.append(f"{where}: a policy has exactly one of allOf or anyOf (it has {given})")
    if others:
        problems.append(f"{where}: a policy holds only allOf or anyOf; remove {', '.join(map(repr, others))}")
    for combinator in combinators:
        items = policy[combinator]
        at = combinator if where == "policy" else f"{where}.{combinator}"
        if not isinstance(items, list):
            problems.append(f"{at}: must be a list of rules and policies, not {_kind(items)}")
            continue
        if not items:
            problems.append(f"{at}: is empty; give at least one rule (an empty {combinator} would decide nothing)")
        for index, item in enumerate(items):
            _check_item(item, f"{at}[{index}]", depth, problems)


def _check_item(item: Any, where: str, depth: int, problems: list[str]) -> None:
    if isinstance(item, dict) and "claim" not in item and any(key in item for key in COMBINATORS):
        _check_policy(item, where, depth + 1, problems)
        return
    if not isinstance(item, dict):
        shape = '{"claim": ..., "<operator>": ...}'
        problems.append(f"{where}: an item is a rule {shape} or a policy, not {_kind(item)}")
        return
    if "claim" not in item:
        problems.append(f'{where}: a rule names its claim ("claim": "<dotted name>"), or the item is a policy')
    else:
        _check_claim_name(item["claim"], where, problems)
    given = [key for key in item if key != "claim"]
    operators = [key for key in given if key in OPERATORS]
    for key in given:
        if key not in OPERATORS:
            problems.append(f"{where}: {key!r} is not an operator: use one of {_OPERATOR_LIST}")
    if not operators and all(key in OPERATORS for key in given):
        problems.append(f"{where}: the rule has no operator: give one of {_OPERATOR_LIST}")
    if len(operators) > 1:
        problems.append(f"{where}: the rule has {len(operators)} operators ({', '.join(operators)}): give exactly one")
    for operator in operators:
        _check_operand(operator, item[operator], where, problems)


def _check_claim_name(name: Any, where: str, problems: list[str]) -> None:
    if not isinstance(name, str):
        problems.append(f"{where}: the claim's name is a string such as 'x-ms-attestation-type', not {_kind(name)}")
    elif not name or any(not part for part in name.split(".")):
        problems.append(f"{where}: the claim's name {name!r} has an empty part: write it as 'a.b.c'")


def _check_operand(operator: str, value: Any, where: str, problems: list[str]) -> None:
    if operator == "exists":
        if not isinstance(value, bool):
            problems.append(f"{where}: exists takes true or false, not {_shown(value)}")
    elif operator in ORDERINGS:
        if _kind(value) != "a number":
            problems.append(f"{where}: {operator} compares numbers: {_shown(value)} is {_kind(value)}")
    elif _kind(value) not in ("a string", "a number", "a boolean"):
        problems.append(f"{where}: {operator} compares with a string, a number or a boolean, not {_kind(value)}")


# --- Evaluating claims --------------------------------------------------------------------------------------


def _unmet(policy: dict[str, Any], claims: Mapping[str, Any]) -> str | None:
    if "allOf" in policy:
        for item in policy["allOf"]:
            failed = _item_unmet(item, claims)
            if failed is not None:
                return failed
        return None
    failures = []
    for item in policy["anyOf"]:
        failed = _item_unmet(item, claims)
        if failed is None:
            return None
        failures.append(failed)
    return failures[0] if len(failures) == 1 else "none of these is met: " + "; or ".join(failures)


def _item_unmet(item: dict[str, Any], claims: Mapping[str, Any]) -> str | None:
    if "claim" not in item:
        return _unmet(item, claims)
    name = item["claim"]
    [operator] = [key for key in item if key != "claim"]
    expected = item[operator]
    actual = _lookup(claims, name)
    if operator == "exists":
        if (actual is not _MISSING) == expected:
            return None
        if expected:
            return f"{name} must be present (it is missing)"
        return f"{name} must be absent (it is {_shown(actual)})"
    phrase, compare = _COMPARISONS[operator]
    rule = f"{name} {phrase} {_shown(expected)}"
    if actual is _MISSING:
        return f"{rule} (it is missing)"
    if _kind(actual) != _kind(expected):
        return f"{rule} (it is {_shown(actual)}, {_kind(actual)}, which cannot be compared with {_kind(expected)})"
    if compare(actual, expected):
        return None
    return f"{rule} (it is {_shown(actual)})"


def _lookup(claims: Mapping[str, Any], name: str) -> Any:
    """The claim at dotted ``name`` in nested objects, or _MISSING."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _shown(value: Any) -> str:
    """A value as a message shows it: strings quoted, JSON's words for the rest, long ones cut."""
    if isinstance(value, str):
        shown = repr(value)
    else:
        try:
            shown = json.dumps(value, sort_keys=True, default=str)
        except ValueError:
            shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
