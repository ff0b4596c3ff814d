"""Accord's own processes for tests that need them: the web server as deployed, a Celery worker, beat.

Each gets the environment of this test run (its database, Redis, install name and var/ folder), so a process
started here works on the test's committed data and hears the test's policy channel, with overrides for the
faults a test injects (a DATABASE_URL that points at a LoopbackPeer, say).
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import connection

from tests.faults import free_port
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[1]


def database_url(*, port: int | None = None) -> str:
    """This test run's database (the test database, not the one named in DATABASE_URL), optionally reached
    through another port (a LoopbackPeer)."""
    database = settings.DATABASES["default"]
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    return f"postgres://{credentials}@{database['HOST']}:{port or database['PORT']}/{database['NAME']}"


def accord_env(**overrides: str) -> dict[str, str]:
    artefacts = cast(dict[str, Any], settings.STORAGES["artefacts"])
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        # The test process's install name: the processes share its Redis keys, queues and policy channel.
        "ACCORD_INSTALL_NAME": settings.ACCORD_INSTALL_NAME,
        "ACCORD_VAR_DIR": str(settings.VAR_DIR),
        # The test's own anchor file and artefact folder (tests/conftest.py), not var/'s.
        "ACCORD_AUDIT_ANCHOR_FILE": str(settings.ACCORD_AUDIT_ANCHOR_FILE),
        "ACCORD_ARTEFACT_DIR": str(artefacts["OPTIONS"]["location"]),
        "DJANGO_SETTINGS_MODULE": "accord.settings",
        "ACCORD_LOG_LEVEL": "WARNING",
        "ACCORD_WEB_ACCESS_LOG": "false",
    }
    env.update(overrides)
    return env


class WebServer:
    """gunicorn with the project's configuration, on a free loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/healthz", timeout=15)  # noqa: S310 (loopback)
        except urllib.error.HTTPError:
            return True  # a 503 is an answer
        except OSError:
            return False
        return True


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as docker and honcho stop Accord's processes; SIGKILL if it is still there 30 s later."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@functools.cache
def collected_static() -> None:
    """The server's pages name their static files through the manifest that collectstatic writes (once a run)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=REPO,
        env=accord_env(),
        check=True,
    )


@contextlib.contextmanager
def web_server(**env: str) -> Iterator[WebServer]:
    collected_static()
    port = free_port()
    connection.close()  # the server's processes and this one each use their own connections
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:accord.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=accord_env(**env),
    )
    server = WebServer(process, port)
    try:
        if not wait_for(lambda: process.poll() is not None or server.answers(), timeout=60, every=0.2):
            raise AssertionError("the web server did not answer within 60 s")
        if process.poll() is not None:
            raise AssertionError(f"the web server exited with {process.returncode}; its output is above")
        yield server
    finally:
        stop(process)


@contextlib.contextmanager
def celery(*arguments: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``celery --app accord <arguments>`` for the block (a worker, or beat)."""
    connection.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "accord", *arguments],
        cwd=REPO,
        env=accord_env(**env),
    )
    try:
        yield process
    finally:
        stop(process)
