from __future__ import annotations

import io
import secrets
from base64 import b32encode
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accord.validation import errors_on
from accounts import access, factors, lockout, services, sessions
from accounts.access import request_user, user_who_may
from accounts.forms import ApiTokenForm, AuthenticatorForm, SecondFactorForm
from accounts.models import Proposal, RecoveryCodeDevice, User
from accounts.operations import Operation
from accounts.proposal_views import propose
from accounts.services import actor_for
from accounts.sessions import session_handle, sessions_of
from accounts.stepup import step_up_page


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
            # Past the limit, django-axes refused the try without checking the password.
            locked = getattr(self.request, "axes_failures_since_start", 0) > settings.AXES_FAILURE_LIMIT
            services.login_failure_record(username=str(username), locked=locked)
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
                scopes=form.cleaned_data["scopes"],
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


# --- The second factor ----------------------------------------------------------------------------------------


def _next_url(request: HttpRequest) -> str:
    """Where to go once the factor is given: the page that asked, if it is one of ours; home otherwise."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if safe and wanted.startswith("/") else resolve_url(settings.LOGIN_REDIRECT_URL)


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """Give the second factor: a passkey (the button, through the browser) or a code from an authenticator app
    or the recovery codes. Also the step-up page: irreversible acts send people here when their factor is old."""
    user = request_user(request)
    step_up = request.GET.get("step_up") == "1" or request.POST.get("step_up") == "1"
    if not factors.has_factor(user):
        return redirect(f"{reverse('accounts:enrol')}?{urlencode({'next': _next_url(request)})}")
    if request.method == "GET" and factors.second_factor_fresh(request) and not step_up:
        return redirect(_next_url(request))
    form = SecondFactorForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        check = factors.code_check(user, form.cleaned_data["code"])
        if check.device is not None:
            factors.second_factor_passed(request, check.device)
            left = factors.recovery_codes_left(user)
            if isinstance(check.device, RecoveryCodeDevice) and left is not None:
                messages.warning(
                    request,
                    f"You used a recovery code; {left} left. Make new ones on your security page if that is few.",
                )
            return redirect(_next_url(request))
        if check.wait_seconds:
            form.add_error("code", f"Too many wrong codes: wait {check.wait_seconds} seconds, then try again.")
            status = 429
        else:
            form.add_error("code", "That code is wrong or used already. Type the code your app shows now.")
    kinds = {factor.kind for factor in factors.factors_of(user)}
    context = {
        "form": form,
        "next": _next_url(request),
        "step_up": step_up,
        "has_passkey": "passkey" in kinds,
        "has_authenticator": "authenticator" in kinds,
        "demo": factors.has_demo_authenticator(user),
    }
    return render(request, "accounts/verify.html", context, status=status)


@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up a second factor: a passkey, or an authenticator app from its QR code. The first login of a person
    comes here; later ones add factors from their security page (after giving one they have, a step-up)."""
    user = request_user(request)
    if user.is_service:
        raise PermissionDenied("Principals use API tokens and never log in.")
    first = not factors.has_factor(user)
    if not first and not factors.second_factor_fresh(request):
        return step_up_page(request, back=request.get_full_path())
    device = factors.totp_pending(user)
    form = AuthenticatorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            confirmed = factors.totp_confirm(
                device=device, code=form.cleaned_data["code"], name=form.cleaned_data["name"], by=actor_for(user)
            )
        if form.is_valid():
            if first:
                factors.second_factor_passed(request, confirmed)
                codes = factors.recovery_codes_issue(user=user, by=actor_for(user))
                return _show_recovery_codes(request, codes)
            messages.success(request, f"Authenticator “{confirmed.name}” added.")
            return redirect("accounts:security")
    context = {
        "form": form,
        "first": first,
        "secret": _grouped(b32encode(device.bin_key).decode()),
        "next": _next_url(request),
    }
    return render(request, "accounts/enrol.html", context)


@login_required
def totp_qr(request: HttpRequest) -> HttpResponse:
    """The QR code of the authenticator being set up, drawn here as SVG: the secret goes nowhere else."""
    user = request_user(request)
    if factors.has_factor(user) and not factors.second_factor_fresh(request):
        raise PermissionDenied("Give your second factor again before adding another.")
    device = factors.totp_pending(user)
    buffer = io.BytesIO()
    segno.make(device.config_url, error="m").save(buffer, kind="svg", scale=5, border=2, title="Authenticator QR code")
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Make a new set of recovery codes (the earlier set stops working) and show them, once."""
    user = request_user(request)
    if request.method == "POST":
        codes = factors.recovery_codes_issue(user=user, by=actor_for(user))
        return _show_recovery_codes(request, codes)
    return render(request, "accounts/recovery_codes.html", {"codes": None, "left": factors.recovery_codes_left(user)})


def _show_recovery_codes(request: HttpRequest, codes: list[str]) -> HttpResponse:
    response = render(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": _next_url(request), "left": len(codes)}
    )
    response["Cache-Control"] = "no-store"
    return response


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    """django-axes's answer to a login while the account or the address is locked: the login page, saying how
    long to wait and who can lift it."""
    username = str((credentials or {}).get("username") or request.POST.get("username") or "")
    wait = lockout.lockout_wait(username=username, address=request.META.get("REMOTE_ADDR"))
    minutes = max(1, (wait + 59) // 60)
    message = (
        f"Too many failed logins for this account or from this address: try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''}, or ask a governance officer to unlock it."
    )
    form = AuthenticationForm(request)
    context = {"form": form, "lockout": message, "next": request.POST.get("next", ""), "username": username}
    response = render(request, "accounts/login.html", context, status=429)
    response["Retry-After"] = str(max(wait, 1))
    return response


# --- A person's own security: factors and sessions ------------------------------------------------------------


@login_required
def security(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    current = request.session.session_key or ""
    sessions = [
        {"session": s, "handle": session_handle(s.session_key), "current": s.session_key == current}
        for s in sessions_of(user)
    ]
    context = {
        "factors": factors.factors_of(user),
        "recovery_left": factors.recovery_codes_left(user),
        "sessions": sessions,
        "fresh": factors.second_factor_fresh(request),
        "settings_idle": settings.ACCORD_SESSION_IDLE_MINUTES,
        "settings_hours": settings.SESSION_COOKIE_AGE // 3600,
    }
    return render(request, "accounts/security.html", context)


@login_required
@require_POST
def factor_remove(request: HttpRequest) -> HttpResponse:
    if not factors.second_factor_fresh(request):
        return step_up_page(request, back=reverse("accounts:security"))
    user = request_user(request)
    factors.factor_remove(user=user, persistent_id=request.POST.get("factor", ""), by=actor_for(user))
    messages.success(request, "The factor is removed; it no longer opens your account.")
    return redirect("accounts:security")


@login_required
@require_POST
def session_end(request: HttpRequest, handle: str) -> HttpResponse:
    user = request_user(request)
    for session in sessions_of(user):
        if session_handle(session.session_key) == handle:
            sessions.session_end(user=user, session_key=session.session_key, by=actor_for(user))
            messages.success(request, "That session is ended: whoever used it must log in again.")
            break
    else:
        messages.info(request, "That session had ended already.")
    return redirect("accounts:security")


# --- Officers: people, their factors and their locks ----------------------------------------------------------


@login_required
def people(request: HttpRequest) -> HttpResponse:
    """Everyone who logs in, with their factors and whether they are locked out; officers act on them here."""
    officer = user_who_may(request, Operation.FACTORS_RESET)
    listed = (
        User.objects.filter(is_service=False).select_related("organisation").order_by("organisation__name", "username")
    )
    counts = _factor_counts()
    locks = lockout.locks()
    locked_accounts = {lock.value: lock for lock in locks if lock.kind == "account"}
    rows = [{"person": p, "factors": counts.get(p.pk, 0), "lock": locked_accounts.get(p.username)} for p in listed]
    context = {"rows": rows, "address_locks": [lock for lock in locks if lock.kind == "address"], "me": officer}
    return render(request, "accounts/people.html", context)


def _factor_counts() -> dict[int, int]:
    """Passkeys and authenticators per person, in two queries."""
    totals: dict[int, int] = {}
    for model in (WebAuthnCredential, TOTPDevice):
        for row in model.objects.filter(confirmed=True).values("user_id").annotate(n=Count("id")):
            totals[row["user_id"]] = totals.get(row["user_id"], 0) + row["n"]
    return totals


@login_required
@require_POST
def person_factors_reset(request: HttpRequest, username: str) -> HttpResponse:
    """Propose resetting another person's factors (a lost phone): a second officer confirms it."""
    user_who_may(request, Operation.FACTORS_RESET)
    target = get_object_or_404(User, username=username, is_service=False)
    return propose(request, kind=Proposal.Kind.FACTORS_RESET, target=target.username, back=reverse("accounts:people"))


@login_required
@require_POST
def person_deactivate(request: HttpRequest, username: str) -> HttpResponse:
    officer = user_who_may(request, Operation.USER_DEACTIVATE)
    target = get_object_or_404(User, username=username)
    services.user_deactivate(user=target, reason=request.POST.get("reason", ""), by=actor_for(officer))
    messages.success(request, f"{target.username} is deactivated: their sessions ended and their tokens are revoked.")
    return redirect("accounts:people")


@login_required
@require_POST
def login_unlock(request: HttpRequest) -> HttpResponse:
    officer = user_who_may(request, Operation.LOGIN_UNLOCK)
    kind, value = request.POST.get("kind", ""), request.POST.get("value", "")
    if kind not in {"account", "address"} or not value:
        raise BadRequest("Say what to unlock: an account (its username) or an address.")
    try:
        lockout.login_unlock(kind=kind, value=value, by=actor_for(officer))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:people")
    messages.success(request, f"The {kind} {value} is unlocked: it may log in again now.")
    return redirect("accounts:people")
