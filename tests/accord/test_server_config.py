"""The web server's settings live in one module, accord/gunicorn_conf.py: every place that starts gunicorn passes
only that module and an address, and what differs between places comes from the environment."""

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import gunicorn.config  # type: ignore[import-untyped]
import gunicorn.util  # type: ignore[import-untyped]
import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

from accord.wsgi_limits import RequestBodyDeadline

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "accord" / "gunicorn_conf.py"
# The settings read the one variable that is not gunicorn's: how long a request body may take to arrive (wsgi.py
# applies it).
SETTINGS = ROOT / "accord" / "settings.py"
SERVER_VARIABLES = (
    "ACCORD_WEB_WORKERS",
    "ACCORD_WEB_THREADS",
    "ACCORD_WEB_ACCESS_LOG",
    "ACCORD_FORWARDED_ALLOW_IPS",
    "ACCORD_LOG_LEVEL",
    "ACCORD_WEB_BODY_TIMEOUT",
)
GUNICORN_SETTINGS = {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}


def load_conf(monkeypatch, **environ) -> types.ModuleType:
    """A fresh copy of the config module, read under ``environ`` (the server variables not given are unset)."""
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONF)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_only_config_and_bind(arguments: list[str], where: str) -> None:
    assert arguments[0::2] == ["--config", "--bind"], f"{where} passes {arguments}"
    assert arguments[1] == "python:accord.gunicorn_conf", f"{where} names another config: {arguments[1]}"


def after_gunicorn(tokens: list[str]) -> list[str]:
    return tokens[tokens.index("gunicorn") + 1 :]


def python_gunicorn_commands(path: Path) -> list[list[str]]:
    """Every list literal in ``path`` that starts gunicorn: its string items after "gunicorn"."""
    commands = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.List):
            items = [
                item.value if isinstance(item, ast.Constant) and isinstance(item.value, str) else "<expr>"
                for item in node.elts
            ]
            if "gunicorn" in items:
                commands.append(after_gunicorn(items))
    return commands


def test_the_procfile_passes_only_the_config_module_and_the_address():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert_only_config_and_bind(after_gunicorn(shlex.split(web.removeprefix("web:"))), "the Procfile")


def test_compose_passes_only_the_config_module_and_the_address():
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert_only_config_and_bind(after_gunicorn(web["command"]), "docker-compose.yml")


@pytest.mark.parametrize(
    "path", ["bench/http_decisions.py", "bench/propagation.py", "tests/governance/test_propagation.py"]
)
def test_benchmarks_and_tests_start_the_server_as_deployed(path):
    commands = python_gunicorn_commands(ROOT / path)
    assert len(commands) == 1, f"{path} starts gunicorn {len(commands)} times"
    assert_only_config_and_bind(commands[0], path)


def test_the_smoke_starts_the_server_as_deployed():
    lines = [line for line in (ROOT / ".ci" / "smoke").read_text().splitlines() if line.startswith("start web ")]
    assert len(lines) == 1
    assert_only_config_and_bind(after_gunicorn(shlex.split(lines[0])), ".ci/smoke")


def test_nothing_names_the_old_module():
    old = "gunicorn_" + "hooks"
    skipped = {".git", ".venv", "var", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
    found = []
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [name for name in subdirectories if name not in skipped]
        for name in files:
            path = Path(directory, name)
            if path.stat().st_size < 1_000_000 and old in path.read_text(errors="ignore"):
                found.append(str(path.relative_to(ROOT)))
    assert found == []


def test_every_name_the_module_sets_is_a_gunicorn_setting():
    """gunicorn ignores names it does not know: a misspelt setting would silently keep its default."""
    module = importlib.import_module("accord.gunicorn_conf")
    names = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | type)
        and getattr(value, "__module__", module.__name__) == module.__name__
    }
    assert names - GUNICORN_SETTINGS == set()
    assert {"worker_class", "workers", "threads", "timeout", "graceful_timeout", "keepalive"} <= names


def test_the_defaults_are_threaded_workers_with_the_control_socket_off(monkeypatch):
    conf = load_conf(monkeypatch)
    assert (conf.worker_class, conf.workers, conf.threads) == ("accord.wsgi_limits.ThreadWorker", 2, 4)
    assert conf.forwarded_allow_ips == "127.0.0.1"
    assert conf.accesslog == "-"
    assert conf.control_socket_disable is True
    assert conf.wsgi_app == "accord.wsgi:application"


def test_what_differs_between_places_comes_from_the_environment(monkeypatch):
    conf = load_conf(
        monkeypatch,
        ACCORD_WEB_WORKERS="5",
        ACCORD_WEB_THREADS="3",
        ACCORD_FORWARDED_ALLOW_IPS="10.0.0.0/8, 127.0.0.1",
        ACCORD_WEB_ACCESS_LOG="false",
        ACCORD_LOG_LEVEL="WARNING",
    )
    assert (conf.workers, conf.threads) == (5, 3)
    assert conf.forwarded_allow_ips == "10.0.0.0/8,127.0.0.1"
    assert conf.accesslog is None
    assert conf.loglevel == "warning"


def test_a_bad_value_fails_naming_the_variable(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="ACCORD_WEB_THREADS must be at least 1; got 0"):
        load_conf(monkeypatch, ACCORD_WEB_THREADS="0")


def test_the_worker_is_gunicorns_threaded_worker():
    """accord/wsgi_limits.py changes only when it accepts connections; a gunicorn upgrade that renamed what it
    overrides would show here first."""
    worker = gunicorn.util.load_class("accord.wsgi_limits.ThreadWorker")
    assert issubclass(worker, ThreadWorker)
    assert {"enqueue_req", "finish_request", "set_accept_enabled"} <= set(vars(ThreadWorker))


def test_a_long_url_reaches_django(monkeypatch):
    """8190 is the longest request line gunicorn accepts, and fits nginx's 8 KiB header buffers: a URL up to that
    long is Django's to answer (in the API's error shape), not gunicorn's."""
    conf = load_conf(monkeypatch)
    assert conf.limit_request_line == 8190
    assert (conf.limit_request_fields, conf.limit_request_field_size) == (50, 8190)


def test_outside_gunicorn_requests_pass_through_untouched():
    """manage.py runserver serves the same application: with no gunicorn socket, the body is Django's to read."""
    seen = []
    app = RequestBodyDeadline(
        lambda environ, start: seen.append(environ) or [b""], timeout=1, max_buffered=10, spool_bytes=10
    )
    environ = {"CONTENT_LENGTH": "1000", "wsgi.input": object(), "PATH_INFO": "/api/v1/decisions"}
    app(dict(environ), lambda *args: None)
    assert seen == [environ]


def test_every_variable_the_module_reads_is_in_env_example():
    in_settings = set(re.findall(r'env_\w+\("([A-Z_]+)"', SETTINGS.read_text()))
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', CONF.read_text())) | ({"ACCORD_WEB_BODY_TIMEOUT"} & in_settings)
    example = (ROOT / ".env.example").read_text()
    assert read == set(SERVER_VARIABLES)
    assert [name for name in read if not re.search(rf"^{name}=", example, re.MULTILINE)] == []


def run_gunicorn(*arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SERVER_VARIABLES}
    command = [sys.executable, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", "127.0.0.1:0"]
    return subprocess.run(
        [*command, *arguments],
        cwd=ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gunicorn_reads_the_module_and_its_environment():
    result = run_gunicorn("--print-config", ACCORD_WEB_WORKERS="3")
    assert result.returncode == 0, result.stderr
    printed = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))
    assert printed["workers"] == "3"
    assert printed["worker_class"] == "accord.wsgi_limits.ThreadWorker"
    assert printed["control_socket_disable"] == "True"
    assert printed["wsgi_app"] == "accord.wsgi:application"


def test_gunicorn_refuses_to_start_with_a_bad_value():
    result = run_gunicorn("--check-config", ACCORD_WEB_WORKERS="two")
    assert result.returncode != 0
    assert "ACCORD_WEB_WORKERS must be a whole number; got 'two'" in result.stderr


def test_gunicorn_refuses_to_start_with_a_bad_body_timeout():
    result = run_gunicorn("--check-config", ACCORD_WEB_BODY_TIMEOUT="0")
    assert result.returncode != 0
    assert "ACCORD_WEB_BODY_TIMEOUT must be at least 1; got 0" in result.stderr
