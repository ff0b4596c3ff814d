"""docker-compose.yml runs the whole product; Compose itself validates it in .ci/run (no engine needed)."""

import re
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


def test_only_the_buffering_proxy_is_published_and_it_fronts_web(compose):
    """A slow client must reach gunicorn's threads only through nginx, which reads each request whole first."""
    services = compose["services"]
    assert services["web"].get("ports") is None and services["web"]["expose"] == ["8000"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and proxy["ports"] == ["8000:8000"]
    assert proxy["volumes"] == ["./deploy/nginx/accord.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_proxy_buffers_requests_and_agrees_with_gunicorns_limits():
    conf = (ROOT / "deploy" / "nginx" / "accord.conf").read_text()
    directives = dict(re.findall(r"^\s*([a-z_]+) ([^;{]+);", conf, re.MULTILINE))
    assert re.search(r"upstream accord_web \{\s*server web:8000;", conf)
    assert directives["proxy_request_buffering"] == "on" and directives["proxy_buffering"] == "on"
    # The same 10 s as ACCORD_WEB_BODY_TIMEOUT's default, and lines no longer than gunicorn's 8190 bytes.
    assert directives["client_header_timeout"] == directives["client_body_timeout"] == "10s"
    assert directives["large_client_header_buffers"] == "4 8k"
    # Its own errors under /api/ in the API's error shape; Django's own answers are left as they are.
    assert '{"error": {"code": "$accord_error_code", "message": "$accord_error_message", "fields": {}}}' in conf
    intercepted = re.search(r"proxy_intercept_errors on;\s*error_page ([\d ]+) /_accord_error;", conf)
    assert intercepted and not {"400", "403", "404", "500", "503"} & set(intercepted.group(1).split())


@pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian's nginx is not installed")
def test_nginx_accepts_the_proxy_config(tmp_path):
    conf = (ROOT / "deploy" / "nginx" / "accord.conf").read_text().replace("server web:8000;", "server 127.0.0.1:9;")
    (tmp_path / "accord.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; include {tmp_path}/accord.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-q", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


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
