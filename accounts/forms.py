from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from accounts.models import User


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'evaluation gateway (prod)'.")
    owner = forms.ModelChoiceField(queryset=User.objects.none(), to_field_name="username", empty_label=None)
    expires_in_days = forms.IntegerField(min_value=1, initial=30, help_text="Shorter is safer.")

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["owner"].label_from_instance = lambda user: (
            f"{user.username} ({'principal of ' + user.organisation.name if user.is_service else 'you'})"
        )
        self.fields["expires_in_days"].max_value = settings.ACCORD_TOKEN_MAX_DAYS
        self.fields["expires_in_days"].widget.attrs["max"] = settings.ACCORD_TOKEN_MAX_DAYS
