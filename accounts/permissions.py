"""What a narrowed API token may still do."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken


class TokenScopePermission(BasePermission):
    """A token narrowed by an exit reaches only the views that declare ``token_scopes = ("exit",)``: reading the
    exit and its report, and attesting destruction. Every other token is unaffected."""

    message = (
        "This token is limited to your organisation's exit: it can read the exit, its report and certificates, "
        "and attest destruction under /api/v1/exits/. Everything else ended with the collaboration."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and token.scope != ApiToken.Scope.FULL:
            return token.scope in getattr(view, "token_scopes", ())
        return True
