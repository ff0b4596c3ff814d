"""Web sessions: how long they last, and that nothing is reached in one before its second factor is given."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views import defaults

from accord.api_errors import error_body
from accounts import matrix
from accounts.factors import has_factor
from accounts.permissions import NOT_IN_MATRIX
from accounts.sessions import SEEN, STARTED, session_time

logger = logging.getLogger(__name__)

# Addresses a person reaches after their password and before their second factor: logging in and out, giving
# or setting up the factor (the passkey ceremonies included), and the health check a load balancer asks.
BEFORE_SECOND_FACTOR = frozenset(
    {
        "login",
        "logout",
        "healthz",
        "accounts:verify",
        "accounts:enrol",
        "accounts:totp-qr",
        "otp_webauthn:credential-registration-begin",
        "otp_webauthn:credential-registration-complete",
        "otp_webauthn:credential-authentication-begin",
        "otp_webauthn:credential-authentication-complete",
        "otp_webauthn:js-i18n-catalog",
    }
)

# How often a session notes that it was used: "last seen" is for people and the idle limit, not to the second.
SEEN_EVERY = timedelta(minutes=1)


class SessionLifetimeMiddleware:
    """A web login ends ACCORD_SESSION_HOURS after it began, or ACCORD_SESSION_IDLE_MINUTES after its last
    request, whichever comes first; the next page asks for the login again and says why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = timezone.now()
        started = session_time(request.session, STARTED)
        seen = session_time(request.session, SEEN) or started
        idle = timedelta(minutes=settings.ACCORD_SESSION_IDLE_MINUTES)
        if started is None or seen is None or now - started > timedelta(seconds=settings.SESSION_COOKIE_AGE):
            ended = f"Your login ended after {settings.SESSION_COOKIE_AGE // 3600} hours; log in again."
        elif now - seen > idle:
            ended = f"Your login ended after {settings.ACCORD_SESSION_IDLE_MINUTES} minutes unused; log in again."
        else:
            if now - seen >= SEEN_EVERY:
                request.session[SEEN] = now.isoformat()
            return
        logout(request)
        messages.info(request, ended)


class SecondFactorMiddleware:
    """Until a session has passed its second factor, every page, the admin and the session-authenticated API
    refuse it: pages send the person to give the factor (or to set one up at their first login) and come back;
    the API answers 403 saying so. Bearer-token calls are the API's own: tokens are issued to people who passed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        user: Any = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in BEFORE_SECOND_FACTOR:
            return None
        if request.path.startswith("/api/v1/"):
            if request.headers.get("Authorization", "").lower().startswith("bearer "):
                return None
            message = (
                "This session has not given its second factor. Give it at /account/verify/ in the browser, or "
                "call the API with a bearer token."
            )
            return JsonResponse(error_body("second_factor_required", message), status=403)
        where = "accounts:verify" if has_factor(user) else "accounts:enrol"
        return redirect(f"{reverse(where)}?{urlencode({'next': request.get_full_path()})}")


class AccessMatrixMiddleware:
    """The pages' side of the authorization matrix (accounts/matrix.py; the API's side is its permission class):
    before a page's view runs, a caller the matrix refuses for its address and method gets the refusal page, a
    visitor who has not signed in the login, and a method the address does not answer a 405. An address without
    an entry answers no one (fail closed)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if hasattr(view, "cls"):
            return None  # a DRF view: MatrixPermission checks it after the API's own authentication
        match = request.resolver_match
        entry = matrix.access_for(match.view_name if match else None)
        if entry is None:
            logger.error("No authorization matrix entry for %s", match.view_name if match else request.path)
            return defaults.permission_denied(request, PermissionDenied(NOT_IN_MATRIX))
        method = request.method or "GET"
        rule = matrix.rule_for(entry, method)
        if rule is None:
            return HttpResponseNotAllowed(sorted(entry.methods))
        resolved = matrix.operation_of(rule, kwargs)
        if resolved == matrix.Audience.ANYONE or matrix.allows(request.user, resolved):
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if matrix.hidden_from(request.user, entry, kwargs):
            raise Http404()
        return defaults.permission_denied(request, PermissionDenied(matrix.refusal(entry, resolved)))
