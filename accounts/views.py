from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accord.validation import errors_on
from accounts import access, services
from accounts.access import request_user
from accounts.forms import ApiTokenForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        services.login_record(user=form.get_user())
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username = form.data.get("username", "")
        if username:
            services.login_failure_record(username=str(username))
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            services.logout_record(user=request_user(request))
        return super().post(request, *args, **kwargs)


TOKEN_FORM_NONCES = "accounts.token_form_nonces"  # noqa: S105 (a session key)


def _token_form_nonce(request: HttpRequest) -> str:
    """A fresh one-time value for the issue form; the last few stay valid, for people with several tabs."""
    nonce = secrets.token_urlsafe(16)
    request.session[TOKEN_FORM_NONCES] = [*request.session.get(TOKEN_FORM_NONCES, [])[-4:], nonce]
    return nonce


def _token_form_nonce_spend(request: HttpRequest, nonce: str) -> bool:
    nonces = request.session.get(TOKEN_FORM_NONCES, [])
    if nonce not in nonces:
        return False
    request.session[TOKEN_FORM_NONCES] = [other for other in nonces if other != nonce]
    return True


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """The tokens a user manages, and the form that issues one. A new token is shown in the answer to the
    POST and nowhere else: it is never stored, not even in the session."""
    user = request_user(request)
    owners = access.token_owners_manageable_by(user)
    form = ApiTokenForm(request.POST or None, owners=owners, initial={"owner": user.username})
    new_token = None
    if request.method == "POST" and form.is_valid():
        if not _token_form_nonce_spend(request, form.cleaned_data["nonce"]):
            messages.warning(
                request,
                "That form was already sent, so no second token was issued. If you did not copy the token, "
                "revoke it below and issue another.",
            )
            return redirect("accounts:tokens")
        with errors_on(form):
            token, new_token = services.api_token_issue(
                user=form.cleaned_data["owner"],
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                by=services.actor_for(user),
            )
        if form.is_valid():
            messages.success(
                request, f"Token “{token.name}” issued for {token.user.username}. Copy it now: it is shown once."
            )
            form = ApiTokenForm(owners=owners, initial={"owner": user.username})
    nonce = _token_form_nonce(request)
    if form.is_bound:
        # A form shown again with its errors carries a fresh one-time value: the one it came with may be spent.
        data = request.POST.copy()
        data["nonce"] = nonce
        form.data = data
    else:
        form.initial["nonce"] = nonce
    tokens = access.tokens_visible_to(user)
    return render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    user = request_user(request)
    token = access.token_get_for_user(user, pk)
    services.api_token_revoke(token=token, by=services.actor_for(user))
    messages.success(request, f"Token {token.prefix}… ({token.name}) is revoked; it no longer works.")
    return redirect("accounts:tokens")
