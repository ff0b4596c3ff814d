"""Functions stay short: ruff's C901 in pyproject.toml holds every function of the source to a complexity of 12,
and would notice one past it. Tests and benchmarks are exempt."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


def tangled(decisions: int) -> str:
    """A function with ``decisions`` ifs, so a complexity of one more."""
    branches = "".join(f"    if n == {number}:\n        return {number}\n" for number in range(decisions))
    return f"def tangled(n):\n{branches}    return -1\n"


def ruff(filename: str, source: str) -> subprocess.CompletedProcess[str]:
    """ruff with the project's configuration on ``source``, as if it were the file ``filename`` of the project."""
    return subprocess.run(
        [str(RUFF), "check", "--no-cache", "--stdin-filename", filename, "-"],
        cwd=ROOT,
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_function_of_the_source_is_within_the_complexity_limit():
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "C901", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("package", ["accord", "audit", "accounts", "charters", "governance", "tools"])
def test_a_function_past_the_limit_fails_the_lint(package):
    result = ruff(f"{package}/tangled.py", tangled(12))
    assert result.returncode == 1
    assert "C901 `tangled` is too complex (13 > 12)" in result.stdout


def test_a_function_at_the_limit_passes_the_lint():
    result = ruff("governance/tangled.py", tangled(11))
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_tests_and_benchmarks_may_be_past_the_limit(folder):
    result = ruff(f"{folder}/tangled.py", tangled(12))
    assert result.returncode == 0, result.stdout
