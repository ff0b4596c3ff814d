"""Passkeys through django-otp-webauthn's ceremonies, as a second factor after the password, never instead of it.

The package's views run the WebAuthn ceremonies; these subclasses add what Accord needs around them: a passkey
used or set up starts the session's step-up clock and is recorded in the trail, and a person who already has a
factor gives it again (a step-up) before adding a passkey, so that a borrowed session cannot add its own.
The URL names stay the package's (``otp_webauthn:``), which its template tags and scripts use.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import exceptions
from django_otp_webauthn import views as ceremonies
from django_otp_webauthn.models import WebAuthnCredential

from accounts.access import request_user
from accounts.factors import factor_added_record, has_factor, second_factor_fresh, second_factor_passed
from accounts.services import actor_for


class StepUpFirst(exceptions.OTPWebAuthnApiError):
    status_code = 403
    code = "step_up_required"
    default_detail = "Give your second factor again before adding a passkey: reload the page to do so."


class PrincipalsHaveNoPasskeys(exceptions.OTPWebAuthnApiError):
    status_code = 403
    code = "principal"
    default_detail = "Principals use API tokens and have no passkeys."


class BeginRegistration(ceremonies.BeginCredentialRegistrationView):
    def check_can_register(self) -> None:
        user = request_user(self.request)
        if user.is_service:
            raise PrincipalsHaveNoPasskeys()
        if has_factor(user) and not second_factor_fresh(self.request):
            raise StepUpFirst()


class CompleteRegistration(ceremonies.CompleteCredentialRegistrationView):
    def check_can_register(self) -> None:
        BeginRegistration.check_can_register(self)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        response = super().post(*args, **kwargs)
        if response.status_code != 200:
            return response
        # The package's answer names the passkey it has just saved.
        user = request_user(self.request)
        device = WebAuthnCredential.objects.filter(user=user, pk=json.loads(response.content)["id"]).first()
        if device is not None:
            if not device.name:
                device.name = f"Passkey added {device.created_at:%Y-%m-%d}"
                device.save(update_fields=["name"])
            factor_added_record(user, device, by=actor_for(user))
            second_factor_passed(self.request, device)
        return response


class CompleteAuthentication(ceremonies.CompleteCredentialAuthenticationView):
    def complete_auth(self, device: WebAuthnCredential) -> None:
        # Only ever a second factor: the package refuses a passwordless start (ALLOW_PASSWORDLESS_LOGIN is off)
        # and a passkey of someone else (CredentialUserMismatch).
        if not self.request.user.is_authenticated or device.user_id != self.request.user.pk:
            raise exceptions.NotAuthenticated()
        second_factor_passed(self.request, device)


app_name = "otp_webauthn"

urlpatterns = [
    path("registration/begin/", BeginRegistration.as_view(), name="credential-registration-begin"),
    path("registration/complete/", CompleteRegistration.as_view(), name="credential-registration-complete"),
    path(
        "authentication/begin/",
        ceremonies.BeginCredentialAuthenticationView.as_view(),
        name="credential-authentication-begin",
    ),
    path("authentication/complete/", CompleteAuthentication.as_view(), name="credential-authentication-complete"),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]
