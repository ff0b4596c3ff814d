"""What a narrowed API token may still do."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken


class TokenScopePermission(BasePermission):
    """A token narrowed by an exit, and anyone of a partner whose access an exit ended, reach only the views that
    declare ``token_scopes = ("exit",)``: reading the exit and its report, and attesting destruction."""

    message = (
        "This token is limited to your organisation's exit: it can read the exit, its report and certificates, "
        "and attest destruction under /api/v1/exits/. Everything else ended with the collaboration."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = getattr(view, "token_scopes", ())
        token = request.auth
        if isinstance(token, ApiToken) and token.scope != ApiToken.Scope.FULL:
            return token.scope in allowed
        # A partner whose last charter ended reaches only the exit, whatever it authenticates with (a session).
        organisation = getattr(request.user, "organisation", None)
        if organisation is not None and organisation.access_ended_at is not None:
            return ApiToken.Scope.EXIT in allowed
        return True
