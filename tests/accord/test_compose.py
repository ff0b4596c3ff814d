"""docker-compose.yml runs the whole product; Compose itself validates it in .ci/run (no engine needed)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_every_part_of_the_product(compose):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])


def test_compose_runs_exactly_one_beat(compose):
    beats = [name for name, service in compose["services"].items() if "beat" in " ".join(service.get("command", []))]
    assert beats == ["beat"]
    assert compose["services"]["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_web_runs_on_gunicorn_in_production_mode(compose):
    web = compose["services"]["web"]
    assert web["command"][0] == "gunicorn"
    assert web["environment"]["ACCORD_ENV"] == "production"


def test_every_setting_in_env_example_is_documented(compose):
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [line.split("=", 1)[0].lstrip("# ") for line in lines if "=" in line.split(" ", 1)[0].lstrip("#")]
    for required in (
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "DJANGO_SECRET_KEY_FILE",
        "DJANGO_ALLOWED_HOSTS",
        "ACCORD_ENV",
        "ACCORD_AUDIT_SIGNING_KEY",
        "ACCORD_KEK",
        "EMAIL_URL",
    ):
        assert required in names, f"{required} is missing from .env.example"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_compose_v1_accepts_the_file():
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
