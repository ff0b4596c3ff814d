"""Policy test cases: the repository's own pass, a wrong expectation fails naming its case, a malformed file is
refused naming what is wrong, and `policy test` runs them on a scratch database of its own."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accounts.services import partner_create
from governance.policy import cases
from tests.conftest import SETUP
from tests.helpers import REPO_CASES

REPO = Path(__file__).resolve().parents[2]

A_CASE = """
case: {name}
charters:
  - file: charters/examples/northwind-evaluation.yaml
grants:
  - principal: northwind-gateway
    asset: atlas-7b 1.0
    actions: [infer]
    purposes: [safety-evaluation]
requests:
  - name: inference is allowed
    principal: northwind-gateway
    action: infer
    asset: atlas-7b 1.0
    purpose: safety-evaluation
    expect: allow
  - name: {wrong}
    principal: northwind-gateway
    action: fine_tune
    asset: atlas-7b 1.0
    purpose: safety-evaluation
    expect: allow
"""


def write(tmp_path, text, name="case.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", REPO_CASES, ids=[path.name for path in REPO_CASES])
def test_the_repositorys_policy_cases_pass(db, path):
    outcome = cases.run(cases.load(path))
    assert outcome.passed, (outcome.error, [check for check in outcome.checks if not check.passed])
    assert outcome.checks


def test_there_are_policy_cases_to_run():
    assert len(REPO_CASES) >= 4


def test_a_wrong_expectation_fails_and_names_the_check(db, tmp_path):
    case = cases.load(write(tmp_path, A_CASE.format(name="Wrong on purpose", wrong="fine-tuning is allowed")))
    outcome = cases.run(case)
    assert not outcome.passed and outcome.case.name == "Wrong on purpose"
    failed = [check for check in outcome.checks if not check.passed]
    assert [(check.name, check.expected, check.got) for check in failed] == [
        ("fine-tuning is allowed", "allow", "deny (action_not_permitted)")
    ]


def test_a_case_leaves_nothing_behind(db, tmp_path):
    from accounts.models import Organisation
    from audit.models import Event

    cases.run(cases.load(REPO_CASES[0]))
    assert not Organisation.objects.exists() and not Event.objects.exists()


def test_a_database_with_data_is_refused(db):
    partner_create(name="Northwind Labs", slug="northwind", by=SETUP)
    with pytest.raises(cases.CaseError, match="empty database"):
        cases.run(cases.load(REPO_CASES[0]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case: x\ncharters: []\nrequests: []\n", "should be non-empty"),
        ("- just a list\n", "a policy test case is a YAML mapping"),
        (
            "case: x\ncharters:\n  - file: a.yaml\nrequests:\n  - name: n\n    principal: p\n    action: a\n"
            "    asset: b\n    purpose: c\n    expect: maybe\n",
            "line 10: requests[0].expect: 'maybe' is not one of allow, deny",
        ),
        ("case: x\ncharter: []\n", "Allowed here: case, charters"),
        ("case: [x\n", "not valid YAML"),
    ],
)
def test_a_malformed_case_names_the_file_the_place_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(cases.CaseError) as refused:
        cases.load(path)
    assert str(path) in str(refused.value) and message in str(refused.value), str(refused.value)


def test_names_the_case_cannot_resolve_are_explained(db, tmp_path):
    case = cases.load(write(tmp_path, A_CASE.format(name="Typo", wrong="w").replace("atlas-7b 1.0", "atlas-7b 9.9", 1)))
    outcome = cases.run(case)
    assert "grants[0].asset: no asset version 'atlas-7b 9.9'" in outcome.error


def test_policy_test_runs_on_its_own_scratch_database_and_fails_naming_the_case(tmp_path):
    failing = write(tmp_path, A_CASE.format(name="Wrong on purpose", wrong="fine-tuning is allowed"))
    env = {key: value for key, value in os.environ.items() if key != "ACCORD_POLICY_TEST_SCRATCH"}
    run = subprocess.run(
        [sys.executable, "manage.py", "policy", "test", str(failing), str(REPO_CASES[0])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  fine-tuning is allowed: expected allow, got deny (action_not_permitted)" in run.stdout
    assert "Failing cases: Wrong on purpose" in run.stderr and "1 failed" in run.stderr


def test_policy_test_refuses_a_malformed_file_before_running_anything(tmp_path):
    bad = write(tmp_path, "case: x\n")
    run = subprocess.run(
        [sys.executable, "manage.py", "policy", "test", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2 and "'charters' is a required property" in run.stderr, run.stderr
