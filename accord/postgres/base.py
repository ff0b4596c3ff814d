"""Django's PostgreSQL backend, with every connection made through the guard (accord/postgres/guard.py)."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from accord.postgres import guard


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params["connection_factory"] = guard.GuardedConnection
        limit = guard.statement_timeout()
        if limit is not None:
            # The server cancels a statement when this process would stop waiting for it, so a query given up on
            # does not run on in PostgreSQL (set at connect time: no extra round trip).
            params["options"] = f"{params.get('options', '')} -c statement_timeout={int(limit * 1000)}".strip()
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        with guard.connecting():
            return super().get_new_connection(conn_params)

    def is_usable(self) -> bool:
        # A connection given up on mid-answer, or any connection while the breaker is open, is not asked again:
        # the health check's SELECT 1 would wait for the same silence.
        if self.connection is not None and (getattr(self.connection, "abandoned", False) or guard.breaker.is_open()):
            return False
        return bool(super().is_usable())
