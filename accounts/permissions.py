"""The API's one permission class: the authorization matrix (accounts/matrix.py) and the token scopes it names."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts import matrix
from accounts.models import ApiToken
from accounts.scopes import Scope, scopes_in_force, scopes_text

logger = logging.getLogger(__name__)

EXIT_ONLY = (
    "This token is limited to your organisation's exit: it can read the exit, its report and certificates, "
    "and attest destruction under /api/v1/exits/. Everything else ended with the collaboration."
)
NOT_IN_MATRIX = "This address has no entry in Accord's authorization matrix, so it answers no one."


class MatrixPermission(BasePermission):
    """A request reaches a view when the matrix's rule for its address and method allows the caller and, with a
    token, the token carries one of the scopes the address names (counted within what its owner's roles allow
    now). Anyone of a partner whose access an exit ended reaches only the addresses that name ``exit``, whatever
    they authenticate with. An address without an entry answers no one (fail closed)."""

    message = EXIT_ONLY

    def has_permission(self, request: Request, view: Any) -> bool:
        match = request.resolver_match
        entry = matrix.access_for(match.view_name if match else None)
        if entry is None:
            logger.error("No authorization matrix entry for %s", match.view_name if match else request.path)
            self.message = NOT_IN_MATRIX
            return False
        rule = matrix.rule_for(entry, request.method or "GET")
        if rule is None:
            raise MethodNotAllowed(request.method or "GET")
        resolved = matrix.operation_of(rule, view.kwargs)
        if resolved == matrix.Audience.ANYONE:
            return True
        if not request.user.is_authenticated:
            return False  # DRF answers 401: the request carried no credentials it accepted
        reached = self._scopes_reach(request, entry)
        allowed = reached and matrix.allows(request.user, resolved)
        if not allowed and matrix.hidden_from(request.user, entry, view.kwargs):
            raise NotFound()  # another partner's object (or the host's) is not there, whatever the token
        if reached and not allowed:
            self.message = matrix.refusal(entry, resolved)
        return allowed

    def _scopes_reach(self, request: Request, entry: matrix.Access) -> bool:
        token = request.auth
        if isinstance(token, ApiToken):
            held = scopes_in_force(token.user, token.scopes)
            if held & entry.scopes:
                return True
            if held != {Scope.EXIT}:
                self.message = (
                    f"This token carries {scopes_text(held) or 'no scope its owner may still use'}; this endpoint "
                    f"needs {' or '.join(sorted(entry.scopes))}. Issue a token with that scope, if your role "
                    "allows it."
                )
            return False
        # A partner whose last charter ended reaches only the exit, whatever it authenticates with (a session).
        organisation = getattr(request.user, "organisation", None)
        if organisation is not None and organisation.access_ended_at is not None:
            self.message = EXIT_ONLY
            return Scope.EXIT in entry.scopes
        return True
