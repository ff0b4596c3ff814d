"""Authentication for the decision endpoints: the bearer token and the policy version in one query.

Every decision must check its token (revoked, expired, its user deactivated) and the policy feed's head (the
version check). Both are read by one raw query, one round trip, where the general BearerTokenAuthentication and
the version check take two ORM queries; the user behind a token is kept in memory for a minute, because the
fields a decision reads of it (id, name, organisation, is_service) do not change.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from accounts.authentication import BearerTokenAuthentication
from accounts.models import ApiToken, User
from accounts.scopes import Scope
from accounts.services import api_token_mark_used
from accounts.tokens import token_digest
from charters.models import PolicyHead
from charters.services.policy_feed import Head

USER_SECONDS = 60.0
MAX_USERS = 10_000

_QUERY = (
    "SELECT t.id, t.user_id, t.last_used_at, t.scopes, u.is_active, h.seq, h.token "
    "FROM {token} t JOIN {user} u ON u.id = t.user_id LEFT JOIN {head} h ON h.id = 1 "
    "WHERE t.digest = %s AND t.revoked_at IS NULL AND t.expires_at > %s"
)


@dataclass(frozen=True)
class DecisionCredentials:
    """``request.auth`` on the decision endpoints: which token, and the feed's head read with it."""

    token_id: int
    head: Head


class _Users:
    """Users by id for a short while, so that a decision does not load the same user on every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[int, tuple[float, User]] = {}

    def get(self, pk: int) -> User | None:
        now = time.monotonic()
        with self._lock:
            kept = self._users.get(pk)
            if kept is not None and now - kept[0] < USER_SECONDS:
                return kept[1]
        user = User.objects.select_related("organisation").filter(pk=pk).first()
        if user is not None:
            with self._lock:
                if len(self._users) >= MAX_USERS:
                    self._users.clear()
                self._users[pk] = (now, user)
        return user

    def clear(self) -> None:
        with self._lock:
            self._users.clear()


users = _Users()


@functools.cache
def _query(vendor: str) -> str:
    """The query with this database's quoting, built once per process."""
    quote = connection.ops.quote_name
    return _QUERY.format(
        token=quote(ApiToken._meta.db_table), user=quote(User._meta.db_table), head=quote(PolicyHead._meta.db_table)
    )


class DecisionTokenAuthentication(BearerTokenAuthentication):
    def authenticate(self, request: Request) -> tuple[User, DecisionCredentials] | None:  # type: ignore[override]
        raw = self.bearer(request)
        if raw is None:
            return None
        with connection.cursor() as cursor:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(_query(connection.vendor), [token_digest(raw), now])
            row = cursor.fetchone()
        if row is None:
            raise self.rejected(raw)
        token_id, user_id, last_used_at, scopes, is_active, seq, head_token = row
        if not is_active:
            raise self.rejected(raw)
        if Scope.DECIDE not in scopes.split():
            # A real token, for something else (a person's, or one an exit narrowed): refused, and told why.
            raise PermissionDenied(
                f"This token carries {scopes or 'no scope'}: decisions need a principal's token with the decide scope."
            )
        if last_used_at is not None and timezone.is_naive(last_used_at):
            last_used_at = timezone.make_aware(last_used_at, UTC)  # SQLite hands back UTC without a zone
        user = users.get(user_id)
        if user is None:
            raise self.rejected(raw)
        api_token_mark_used(token_id, last_used_at)
        return user, DecisionCredentials(token_id=token_id, head=Head(seq or 0, head_token or ""))


class DecisionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.decisions.authentication.DecisionTokenAuthentication"
    name = "principalBearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A partner principal's Accord API token: acc_…"}
