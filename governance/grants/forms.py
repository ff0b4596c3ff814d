"""Grant forms: a partner admin's request, an officer's reason, the list's status filter."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import User
from charters.models import AssetVersion
from charters.vocabulary import Action
from governance.models import Grant

# Labelled with the words themselves: a charter, the API and the trail all name actions so.
ACTIONS = [(action, action) for action in Action.values]


class GrantRequestForm(forms.Form):
    principal = forms.ModelChoiceField(queryset=User.objects.none(), to_field_name="username")
    asset_version = forms.ModelChoiceField(queryset=AssetVersion.objects.none(), to_field_name="fingerprint")
    actions = forms.MultipleChoiceField(choices=ACTIONS, widget=forms.CheckboxSelectMultiple)
    purposes = forms.MultipleChoiceField(choices=[], widget=forms.CheckboxSelectMultiple)
    valid_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Valid from (UTC)"
    )
    valid_until = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Valid until (UTC)"
    )
    daily_quota = forms.IntegerField(min_value=1, initial=1000)
    monthly_quota = forms.IntegerField(min_value=1, initial=20000)
    rate_per_minute = forms.IntegerField(min_value=1, initial=60)
    requires_session = forms.BooleanField(required=False)
    requires_attestation = forms.BooleanField(required=False)
    attestation_policy = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Optional: a claims policy the enclave must meet as well as the charter's, as JSON, e.g. "
        '{"allOf": [{"claim": "x-ms-sevsnpvm-bootloader-svn", "greaterOrEquals": 4}]}.',
    )
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, principals: Any, asset_versions: Any, purposes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["principal"].queryset = principals  # type: ignore[attr-defined]
        self.fields["asset_version"].queryset = asset_versions  # type: ignore[attr-defined]
        self.fields["asset_version"].label_from_instance = lambda version: (  # type: ignore[attr-defined]
            f"{version.asset.name} {version.label} ({version.classification})"
        )
        self.fields["purposes"].choices = [(purpose, purpose) for purpose in purposes]  # type: ignore[attr-defined]


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


def grant_status_choices() -> list[tuple[str, str]]:
    return [("all", "All"), *Grant.Status.choices]
