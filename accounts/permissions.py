"""Which tokens reach which endpoints: the scopes a view names (accounts/scopes.py)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.scopes import Scope, scopes_in_force, scopes_text

EXIT_ONLY = (
    "This token is limited to your organisation's exit: it can read the exit, its report and certificates, "
    "and attest destruction under /api/v1/exits/. Everything else ended with the collaboration."
)


class TokenScopePermission(BasePermission):
    """A token reaches a view when it carries one of the scopes the view names (``token_scopes``; ``manage`` when
    it names none), counted within what its owner's roles allow now. Anyone of a partner whose access an exit
    ended reaches only the views that name ``exit``, whatever they authenticate with."""

    message = EXIT_ONLY

    def has_permission(self, request: Request, view: Any) -> bool:
        wanted = frozenset(getattr(view, "token_scopes", (Scope.MANAGE,)))
        token = request.auth
        if isinstance(token, ApiToken):
            held = scopes_in_force(token.user, token.scopes)
            if held & wanted:
                return True
            if held != {Scope.EXIT}:
                self.message = (
                    f"This token carries {scopes_text(held) or 'no scope its owner may still use'}; this endpoint "
                    f"needs {' or '.join(sorted(wanted))}. Issue a token with that scope, if your role allows it."
                )
            return False
        # A partner whose last charter ended reaches only the exit, whatever it authenticates with (a session).
        organisation = getattr(request.user, "organisation", None)
        if organisation is not None and organisation.access_ended_at is not None:
            return Scope.EXIT in wanted
        return True
