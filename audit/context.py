"""Facts about the request (or job) being served, which every event recorded during it carries.

A context variable rather than a thread-local, so that it is right under threads, async views and Celery alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_address: str | None = None


_current: ContextVar[RequestContext] = ContextVar("accord_request_context", default=RequestContext())  # noqa: B039 (frozen)


def current_request_context() -> RequestContext:
    return _current.get()


@contextlib.contextmanager
def request_context(*, request_id: str, client_address: str | None) -> Iterator[RequestContext]:
    context = RequestContext(request_id=request_id, client_address=client_address)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
