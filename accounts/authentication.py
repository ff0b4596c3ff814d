"""Bearer-token authentication for the API: ``Authorization: Bearer acc_…``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.services import api_token_authenticate, token_rejection_record

UNKNOWN_TOKEN_MESSAGE = (
    "This API token is unknown, expired or revoked. Ask your partner admin or an officer for a new one."  # noqa: S105
)


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def bearer(self, request: Request) -> str | None:
        """The token in the Authorization header; None when the header is not a bearer one."""
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer <token>' with a single token and no spaces inside it."
            )
        try:
            return parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The bearer token has characters a token never has.") from None

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        raw = self.bearer(request)
        if raw is None:
            return None
        token = api_token_authenticate(raw)
        if token is None:
            raise self.rejected(raw)
        return token.user, token

    def rejected(self, raw: str) -> exceptions.AuthenticationFailed:
        """Record the rejected token in the trail (as a failed login is) and say what to do."""
        token_rejection_record(raw=raw)
        return exceptions.AuthenticationFailed(UNKNOWN_TOKEN_MESSAGE)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when credentials are missing.
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An Accord API token: acc_…"}
