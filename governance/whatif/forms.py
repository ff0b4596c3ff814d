"""The what-if form: which change to replay, over how many days."""

from __future__ import annotations

from typing import Any

from django import forms


class WhatIfForm(forms.Form):
    """Which change to replay (a charter version in review, or a requested grant) and over how many days."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    grant = forms.IntegerField(required=False, widget=forms.HiddenInput)
    days = forms.IntegerField(min_value=1, initial=30, label="Days of recorded decisions to replay")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (cleaned.get("version") is None) == (cleaned.get("grant") is None):
            raise forms.ValidationError("Name one change to replay: a charter version in review or a requested grant.")
        return cleaned
