"""The claims policy grammar (Azure Secure Key Release's): what a malformed policy is told, and which rule a set of
claims fails."""

from __future__ import annotations

import pytest

from governance.attestation.claims import MAX_DEPTH, policy_problems, policy_unmet

SNP = {
    "x-ms-isolation-tee": {"x-ms-attestation-type": "sevsnpvm", "x-ms-compliance-status": "azure-compliant-cvm"},
    "x-ms-sevsnpvm-is-debuggable": False,
    "x-ms-sevsnpvm-guestsvn": 7,
    "secureboot": True,
}


def rule(claim: str, operator: str, value: object) -> dict[str, object]:
    return {"allOf": [{"claim": claim, operator: value}]}


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("equals", "sevsnpvm"),
        ("notEquals", "tdxvm"),
        ("exists", True),
    ],
)
def test_each_operator_on_a_string_claim_is_met(operator, value):
    assert policy_unmet(rule("x-ms-isolation-tee.x-ms-attestation-type", operator, value), SNP) is None


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("equals", "tdxvm", "x-ms-isolation-tee.x-ms-attestation-type must equal 'tdxvm' (it is 'sevsnpvm')"),
        (
            "notEquals",
            "sevsnpvm",
            "x-ms-isolation-tee.x-ms-attestation-type must not equal 'sevsnpvm' (it is 'sevsnpvm')",
        ),
        ("exists", False, "x-ms-isolation-tee.x-ms-attestation-type must be absent (it is 'sevsnpvm')"),
    ],
)
def test_each_operator_on_a_string_claim_unmet_names_the_claim_and_the_rule(operator, value, message):
    assert policy_unmet(rule("x-ms-isolation-tee.x-ms-attestation-type", operator, value), SNP) == message


@pytest.mark.parametrize(
    ("operator", "met", "unmet", "phrase"),
    [
        ("less", 8, 7, "must be less than 7"),
        ("lessOrEquals", 7, 6, "must be at most 6"),
        ("greater", 6, 7, "must be greater than 7"),
        ("greaterOrEquals", 7, 8, "must be at least 8"),
        ("equals", 7, 8, "must equal 8"),
        ("notEquals", 8, 7, "must not equal 7"),
    ],
)
def test_each_operator_on_a_number_claim_is_met_or_names_the_bound(operator, met, unmet, phrase):
    assert policy_unmet(rule("x-ms-sevsnpvm-guestsvn", operator, met), SNP) is None
    assert (
        policy_unmet(rule("x-ms-sevsnpvm-guestsvn", operator, unmet), SNP)
        == f"x-ms-sevsnpvm-guestsvn {phrase} (it is 7)"
    )


def test_a_boolean_claim_compares_as_a_boolean():
    assert policy_unmet(rule("x-ms-sevsnpvm-is-debuggable", "equals", False), SNP) is None
    assert policy_unmet(rule("secureboot", "equals", False), SNP) == "secureboot must equal false (it is true)"


def test_a_missing_claim_fails_every_operator_but_exists_false():
    for operator, value in [("equals", "x"), ("notEquals", "x"), ("less", 1), ("greaterOrEquals", 1), ("exists", True)]:
        unmet = policy_unmet(rule("x-ms-runtime.keys", operator, value), SNP)
        assert unmet is not None and unmet.startswith("x-ms-runtime.keys must") and "(it is missing)" in unmet
    assert policy_unmet(rule("x-ms-runtime.keys", "exists", False), SNP) is None


def test_a_dotted_name_through_a_value_that_is_not_an_object_is_missing():
    assert (
        policy_unmet(rule("secureboot.enabled", "exists", True), SNP)
        == "secureboot.enabled must be present (it is missing)"
    )


@pytest.mark.parametrize(
    ("claim", "operator", "value", "message"),
    [
        (
            "x-ms-sevsnpvm-guestsvn",
            "equals",
            "7",
            "x-ms-sevsnpvm-guestsvn must equal '7' (it is 7, a number, which cannot be compared with a string)",
        ),
        (
            "x-ms-isolation-tee.x-ms-attestation-type",
            "greater",
            3,
            "x-ms-isolation-tee.x-ms-attestation-type must be greater than 3 (it is 'sevsnpvm', a string, which cannot "
            "be compared with a number)",
        ),
        (
            "secureboot",
            "notEquals",
            1,
            "secureboot must not equal 1 (it is true, a boolean, which cannot be compared with a number)",
        ),
        (
            "x-ms-isolation-tee",
            "equals",
            "sevsnpvm",
            'x-ms-isolation-tee must equal \'sevsnpvm\' (it is {"x-ms-attestation-type": "sevsnpvm", '
            '"x-ms-compliance-status": "azure-compli..., an object, which cannot be compared with a string)',
        ),
    ],
)
def test_a_claim_of_another_type_fails_with_a_message_and_never_raises(claim, operator, value, message):
    assert policy_unmet(rule(claim, operator, value), SNP) == message


def test_all_of_fails_on_its_first_unmet_rule_and_any_of_on_all_of_them():
    policy = {
        "allOf": [
            {"claim": "secureboot", "equals": True},
            {
                "anyOf": [
                    {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": "tdxvm"},
                    {"allOf": [{"claim": "x-ms-sevsnpvm-guestsvn", "greaterOrEquals": 9}]},
                ]
            },
            {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": True},
        ]
    }
    assert policy_problems(policy) == []
    assert policy_unmet(policy, SNP) == (
        "none of these is met: x-ms-isolation-tee.x-ms-attestation-type must equal 'tdxvm' (it is 'sevsnpvm'); "
        "or x-ms-sevsnpvm-guestsvn must be at least 9 (it is 7)"
    )
    met_one = {**SNP, "x-ms-sevsnpvm-guestsvn": 9}
    assert policy_unmet(policy, met_one) == "x-ms-sevsnpvm-is-debuggable must equal true (it is false)"
    assert policy_unmet(policy, {**met_one, "x-ms-sevsnpvm-is-debuggable": True}) is None


def test_any_of_is_met_by_one_of_its_items():
    policy = {"anyOf": [{"claim": "secureboot", "equals": False}, {"claim": "x-ms-sevsnpvm-guestsvn", "less": 10}]}
    assert policy_unmet(policy, SNP) is None
    assert policy_unmet({"anyOf": [{"claim": "secureboot", "equals": False}]}, SNP) == (
        "secureboot must equal false (it is true)"
    )


OPERATORS = "use one of equals, notEquals, less, lessOrEquals, greater, greaterOrEquals, exists"


@pytest.mark.parametrize(
    ("policy", "problems"),
    [
        ([], ['policy: a policy is an object, {"allOf": [...]} or {"anyOf": [...]}, not a list']),
        ({}, ["policy: a policy has exactly one of allOf or anyOf (it has neither)"]),
        (
            {"allOf": [{"claim": "a", "exists": True}], "anyOf": [{"claim": "b", "exists": True}]},
            ["policy: a policy has exactly one of allOf or anyOf (it has allOf and anyOf)"],
        ),
        (
            {"allOf": [{"claim": "a", "exists": True}], "version": "1.0.0"},
            ["policy: a policy holds only allOf or anyOf; remove 'version'"],
        ),
        ({"allOf": {"claim": "a"}}, ["allOf: must be a list of rules and policies, not an object"]),
        ({"anyOf": []}, ["anyOf: is empty; give at least one rule (an empty anyOf would decide nothing)"]),
        (
            {"allOf": [{"claim": "a", "equals": 1}, {"claim": "b", "greaterThan": 2}]},
            [f"allOf[1]: 'greaterThan' is not an operator: {OPERATORS}"],
        ),
        (
            {"allOf": [{"claim": "a"}]},
            [f"allOf[0]: the rule has no operator: give one of {OPERATORS.removeprefix('use one of ')}"],
        ),
        (
            {"allOf": [{"claim": "a", "equals": 1, "less": 2}]},
            ["allOf[0]: the rule has 2 operators (equals, less): give exactly one"],
        ),
        (
            {"allOf": [{"equals": 1}]},
            ['allOf[0]: a rule names its claim ("claim": "<dotted name>"), or the item is a policy'],
        ),
        (
            {"allOf": [{"claim": 3, "equals": 1}]},
            ["allOf[0]: the claim's name is a string such as 'x-ms-attestation-type', not a number"],
        ),
        (
            {"allOf": [{"claim": "a..b", "equals": 1}]},
            ["allOf[0]: the claim's name 'a..b' has an empty part: write it as 'a.b.c'"],
        ),
        ({"allOf": [{"claim": "a", "exists": "yes"}]}, ["allOf[0]: exists takes true or false, not 'yes'"]),
        ({"allOf": [{"claim": "a", "less": "9"}]}, ["allOf[0]: less compares numbers: '9' is a string"]),
        ({"allOf": [{"claim": "a", "greater": True}]}, ["allOf[0]: greater compares numbers: true is a boolean"]),
        (
            {"allOf": [{"claim": "a", "equals": [1]}]},
            ["allOf[0]: equals compares with a string, a number or a boolean, not a list"],
        ),
        (
            {"allOf": ["secureboot"]},
            ['allOf[0]: an item is a rule {"claim": ..., "<operator>": ...} or a policy, not a string'],
        ),
        (
            {"allOf": [{"anyOf": [{"claim": "a", "exists": 1}]}, {"claim": "b", "Equals": "x"}]},
            [
                "allOf[0].anyOf[0]: exists takes true or false, not 1",
                f"allOf[1]: 'Equals' is not an operator: {OPERATORS}",
            ],
        ),
    ],
)
def test_a_malformed_policy_is_told_each_problem_and_where(policy, problems):
    assert policy_problems(policy) == problems
    assert policy_unmet(policy, SNP) == f"The claims policy is not valid: {problems[0]}"


def test_a_policy_nested_too_deep_is_refused_not_recursed():
    policy: dict[str, object] = {"allOf": [{"claim": "a", "exists": True}]}
    for _ in range(MAX_DEPTH):
        policy = {"allOf": [policy]}
    [problem] = policy_problems(policy)
    assert problem.endswith(f"policies nest at most {MAX_DEPTH} levels deep")
    assert policy_unmet(policy, {"a": 1}) is not None
