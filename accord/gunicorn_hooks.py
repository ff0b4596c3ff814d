"""Gunicorn server hooks (Procfile and docker-compose pass ``--config python:accord.gunicorn_hooks``)."""

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Each web worker loads its policy snapshot and subscribes to changes before it takes a request."""
    from governance.policy import live

    live.start()
