"""Step-up: irreversible acts (ending a charter, a policy rollback, destroying a key, resetting someone's factors)
ask for the second factor again unless it was given in the last ACCORD_STEP_UP_MINUTES.

Pages send the person to give it and back to the page the act was offered on; the session-authenticated API
answers 403 saying where. A bearer token is not a session and has nothing to step up: tokens are issued only to
people who passed their second factor, and are revoked when their person is deactivated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from accounts.factors import second_factor_fresh
from accounts.models import ApiToken

STEP_UP_MESSAGE = "This cannot be undone: give your second factor again to go on."
API_STEP_UP_MESSAGE = (
    "This cannot be undone, and this session's second factor is older than the step-up window: give it again at "
    "/account/verify/?step_up=1 in the browser, then repeat the request."
)


def step_up_page(request: HttpRequest, *, back: str) -> HttpResponse:
    """Send the person to give their factor again, then back to ``back``."""
    messages.info(request, STEP_UP_MESSAGE)
    return redirect(f"{reverse('accounts:verify')}?{urlencode({'next': back, 'step_up': '1'})}")


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a page's POST that does an irreversible act; its GET (what would happen) needs no step-up."""

    @functools.wraps(view)
    def stepped_up(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST" or second_factor_fresh(request):
            return view(request, *args, **kwargs)
        return step_up_page(request, back=_back(request))

    return stepped_up


def step_up_check_api(request: Any) -> None:
    """For an API call that does an irreversible act: PermissionDenied unless it came with a bearer token or a
    session whose second factor is fresh."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return
    if not second_factor_fresh(getattr(request, "_request", request)):
        raise PermissionDenied(API_STEP_UP_MESSAGE)


def _back(request: HttpRequest) -> str:
    """The page the act was offered on (the form's referrer, when it is ours); the act's own address otherwise."""
    referrer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referrer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        host = request.get_host()
        path = referrer.split(host, 1)[-1] if host in referrer else referrer
        if path.startswith("/"):
            return path
    return request.get_full_path()
