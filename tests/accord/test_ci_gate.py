"""The suite's own gate: outside CI a missing service skips its tests with the reason; under CI it fails."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST = "tests/governance/test_healthz.py::test_healthz_checks_the_real_redis_and_broker_when_configured"


def run_pytest(tmp_path, *args, **env_overrides):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "CI")}
    env.update(ACCORD_VAR_DIR=str(tmp_path), **env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_outside_ci_a_missing_redis_skips_with_the_reason(tmp_path):
    result = run_pytest(tmp_path, REDIS_TEST)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "REDIS_URL is not set" in result.stdout


def test_under_ci_missing_services_fail_the_run(tmp_path):
    result = run_pytest(tmp_path, REDIS_TEST, CI="true")
    assert result.returncode != 0
    assert "CI=true but DATABASE_URL and REDIS_URL not set" in result.stdout + result.stderr


def test_under_ci_an_unreachable_redis_fails_its_tests(tmp_path):
    result = run_pytest(
        tmp_path,
        REDIS_TEST,
        CI="true",
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert result.returncode != 0
    assert "Redis does not answer" in result.stdout
