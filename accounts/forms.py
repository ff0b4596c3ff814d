from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from accounts.models import User
from accounts.scopes import MEANINGS, Scope


class TokenOwnerField(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.username} (principal of {obj.organisation.name})" if obj.is_service else obj.username


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'evaluation gateway (prod)'.")
    owner = TokenOwnerField(queryset=User.objects.none(), to_field_name="username", empty_label=None)
    expires_in_days = forms.IntegerField(min_value=1, initial=30, help_text="Shorter is safer.")
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, f"{scope.value}: {MEANINGS[scope]}") for scope in Scope],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: what the owner's role gets by default (principals decide; people manage and read "
        "the trail). A token never carries more than its owner's role allows.",
    )
    # One-time value: a reloaded or double-clicked form must not issue a second token.
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(TokenOwnerField, self.fields["owner"]).queryset = owners
        expires = cast(forms.IntegerField, self.fields["expires_in_days"])
        expires.validators.append(MaxValueValidator(settings.ACCORD_TOKEN_MAX_DAYS))
        expires.widget.attrs["max"] = settings.ACCORD_TOKEN_MAX_DAYS


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Code",
        help_text="The six digits your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class AuthenticatorForm(forms.Form):
    name = forms.CharField(
        max_length=64, required=False, initial="Authenticator app", help_text="To tell it apart, e.g. “phone”."
    )
    code = forms.CharField(
        max_length=8,
        label="Code from the app",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
