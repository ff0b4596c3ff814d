"""Web sessions people can see and end: Django's database session engine on ``PersonSession``.

The session's own data carries when the login began, when it was last used, and from where (the lifetime
middleware keeps them); the store copies them, and the person, into columns on each save, so that "my sessions"
and "end every session of this person" are plain queries rather than a decode of every session in the table.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import PersonSession, User
from accounts.operations import Operation, performs, person
from audit.trail import Actor, record

STARTED = "accord.started_at"
SEEN = "accord.seen_at"
ADDRESS = "accord.address"
AGENT = "accord.user_agent"
VERIFIED = "accord.verified_at"


def session_time(data: Any, key: str) -> datetime | None:
    value = data.get(key)
    return parse_datetime(value) if isinstance(value, str) else None


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls) -> type[PersonSession]:
        return PersonSession

    def create_model_instance(self, data: dict[str, Any]) -> PersonSession:
        session = cast(PersonSession, super().create_model_instance(data))
        user_id = data.get(SESSION_KEY)
        session.user_id = int(user_id) if user_id is not None else None
        session.started_at = session_time(data, STARTED)
        session.last_seen_at = session_time(data, SEEN)
        session.address = data.get(ADDRESS) or None
        session.user_agent = str(data.get(AGENT, ""))[:200]
        return session


def sessions_of(user: User) -> QuerySet[PersonSession]:
    """A person's live web sessions, the most recently used first."""
    return PersonSession.objects.filter(user=user, expire_date__gt=timezone.now()).order_by("-last_seen_at")


def session_handle(session_key: str) -> str:
    """A session's name on pages, in forms and in the trail: the key itself is the login, and never leaves its
    cookie."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:16]


@performs(Operation.OWN_ACCOUNT)
@transaction.atomic
def session_end(*, user: User, session_key: str, by: Actor) -> bool:
    """End one of ``user``'s sessions (the next request with it is logged out). False when there was none."""
    if person(by).pk != user.pk:
        raise PermissionDenied("You end only your own sessions; deactivating a person ends theirs.")
    one = PersonSession.objects.filter(user=user, session_key=session_key)
    return bool(_end(one, user=user, by=by, reason="", session=session_handle(session_key)))


@performs(Operation.USER_DEACTIVATE)
def sessions_end_all(*, user: User, by: Actor, reason: str) -> int:
    """End every web session of ``user`` at once; how many there were. Runs inside the caller's transaction (a
    deactivation's or a reset's, which officers do)."""
    return _end(PersonSession.objects.filter(user=user), user=user, by=by, reason=reason)


def _end(sessions: QuerySet[PersonSession], *, user: User, by: Actor, reason: str, **details: str) -> int:
    ended, _ = sessions.delete()
    if ended:
        record(
            action="auth.session_ended",
            actor=by,
            partner=user.partner_slug,
            target=user,
            reason=reason,
            details={"sessions": ended, **details},
        )
    return int(ended)
