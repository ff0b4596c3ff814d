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


@dataclass(frozen=True)
class Confirmation:
    """A second person's confirmation of an act another proposed (four eyes): every event the act records names
    both, so the trail shows who asked and who agreed without joining anything."""

    proposal: int
    kind: str
    proposed_by: str
    confirmed_by: str

    def as_details(self) -> dict[str, object]:
        return {
            "id": self.proposal,
            "kind": self.kind,
            "proposed_by": self.proposed_by,
            "confirmed_by": self.confirmed_by,
        }


_confirmation: ContextVar[Confirmation | None] = ContextVar("accord_confirmation", default=None)


def current_confirmation() -> Confirmation | None:
    return _confirmation.get()


@contextlib.contextmanager
def confirmed(confirmation: Confirmation) -> Iterator[Confirmation]:
    """Run a confirmed proposal's act: the operations it names are allowed, and its events carry both names."""
    token = _confirmation.set(confirmation)
    try:
        yield confirmation
    finally:
        _confirmation.reset(token)
