"""A scratch install for the benchmarks that start the web server: a database migrated and seeded with the demo,
its static files collected, and the environment its processes run with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.http_decisions import ensure_database, say

REPO = Path(__file__).resolve().parents[1]


def seeded_scratch(*, database_url: str, redis_url: str, name: str, **env: str) -> tuple[dict[str, str], Any]:
    """(the environment, the demo's tokens as seed_demo --tokens-out writes them) of a fresh install named
    ``name`` on the scratch database (created when missing)."""
    ensure_database(database_url)
    var = Path(tempfile.mkdtemp(prefix=f"accord-{name}-"))
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ACCORD_VAR_DIR": str(var),
        "ACCORD_INSTALL_NAME": name,
        "DJANGO_SETTINGS_MODULE": "accord.settings",
        "ACCORD_WEB_ACCESS_LOG": "false",
        "ACCORD_LOG_LEVEL": "ERROR",
        **env,
    }
    manage = [sys.executable, str(REPO / "manage.py")]
    say("migrating and seeding the scratch database, collecting static files")
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([*manage, *command], env=environment, cwd=REPO, check=True)  # noqa: S603
    tokens_file = var / "tokens.json"
    subprocess.run(  # noqa: S603
        [*manage, "seed_demo", "--tokens-out", str(tokens_file)],
        env=environment,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return environment, json.loads(tokens_file.read_text())
