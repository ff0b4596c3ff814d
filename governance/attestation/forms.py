"""The measurement allow-lists' forms: a new list, an entry to add, a reason to remove one. They carry what was typed
to the services (governance/attestation/measurements.py), which hold the rules and the messages."""

from __future__ import annotations

from typing import Any

from django import forms

from governance.attestation.measurements import FIELDS, HEX_DIGITS
from governance.models import Measurement

HEX_HINT = f"{HEX_DIGITS} hex digits"
# A digest is copied, not typed: no spelling or autofill suggestions on it.
VALUE_ATTRS = {"class": "monospace", "autocomplete": "off", "spellcheck": "false"}


class MeasurementListForm(forms.Form):
    # Not required here: the service says what a name must be, in one message for the page and the API alike.
    name = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"required": True, "autocomplete": "off"}),
        help_text="What charters name it by: lowercase letters, digits and dashes (atlas-serving).",
    )
    title = forms.CharField(max_length=150, required=False, help_text="What it is for, in a few words.")


class MeasurementAddForm(forms.Form):
    """The platform and every platform's value fields: the page shows those of the platform chosen, and the
    service refuses a value the platform does not carry."""

    platform = forms.ChoiceField(choices=Measurement.Platform.choices)
    note = forms.CharField(
        max_length=200, required=False, help_text="What it measures, e.g. the image and build it comes from."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for fields in FIELDS.values():
            for field in fields:
                self.fields[field.name] = forms.CharField(
                    required=False,
                    label=f"{field.label}{'' if field.required else ' (optional)'}",
                    widget=forms.TextInput(attrs={**VALUE_ATTRS, "placeholder": HEX_HINT}),
                    help_text=HEX_HINT,
                )

    def values(self) -> dict[str, str]:
        """The value fields that were filled in, by name, whichever platform they belong to."""
        return {
            field.name: self.cleaned_data[field.name]
            for fields in FIELDS.values()
            for field in fields
            if self.cleaned_data.get(field.name, "").strip()
        }

    def value_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(platform, its label, its bound value fields), for the page to group them."""
        return [
            (platform, Measurement.Platform(platform).label, [self[field.name] for field in fields])
            for platform, fields in FIELDS.items()
        ]


class MeasurementRemoveForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
