"""The fixture world, the demo and the policy cases work on any day: here, two years after the day the suite runs.

The clock travels before any fixture of the world is built, so the charters, grants and tokens are made on the
travelled day and asked about on it, as they would be by a suite that runs two years from now.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from governance.policy import cases
from tests.conftest import RUN_CHARTER_WINDOW, CharterWindow
from tests.helpers import REPO_CASES, ask, codes

TWO_YEARS_ON = datetime.now(UTC) + timedelta(days=730)


@pytest.fixture(autouse=True)
def _two_years_on():
    with time_machine.travel(TWO_YEARS_ON, tick=True):
        yield


@pytest.fixture
def charter_window(_two_years_on):
    """The window a suite run on the travelled day computes (the run's own was computed before the travel)."""
    return CharterWindow.around(timezone.now().date())


def test_the_fixture_charters_grant_allows_two_years_on(api_as, a_principal, make_grant, atlas):
    grant = make_grant()
    assert grant.valid_from > RUN_CHARTER_WINDOW.valid_until  # built on the travelled day, not on the run's
    answer = ask(api_as(a_principal), atlas)
    assert answer["allow"] is True, answer


def test_a_grant_that_starts_next_week_is_not_valid_yet_two_years_on(api_as, a_principal, make_grant, atlas):
    make_grant(valid_from=timezone.now() + timedelta(days=7))
    assert codes(ask(api_as(a_principal), atlas)) == ["not_yet_valid"]


def test_each_partners_demo_example_is_allowed_two_years_on(db, tmp_path):
    out = tmp_path / "tokens.json"
    call_command("seed_demo", tokens_out=out, stdout=open("/dev/null", "w"))  # noqa: SIM115
    for slug, entry in json.loads(out.read_text())["partners"].items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {entry['principal']}")
        answer = client.post("/api/v1/decisions", entry["allowed_example"], format="json").json()
        assert answer["allow"] is True, (slug, answer)


@pytest.mark.parametrize("path", REPO_CASES, ids=[path.name for path in REPO_CASES])
def test_the_repositorys_policy_cases_pass_two_years_on(db, path):
    outcome = cases.run(cases.load(path))
    assert outcome.passed, (outcome.error, [check for check in outcome.checks if not check.passed])
