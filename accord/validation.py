"""Turning a Django ValidationError into one sentence for a terminal or a log; reading a number from text."""

from django import forms
from django.core.exceptions import ValidationError


def describe(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        " ".join(messages) if field == "__all__" else f"{field}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


def show_on_form(form: forms.Form, error: ValidationError) -> None:
    """Put a service's validation errors on the form fields they name, the rest on the form itself."""
    named = error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]
    for field, messages in named:
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


def is_whole_number(text: str) -> bool:
    """Plain ASCII digits: str.isdigit() alone also takes "²" and other scripts' digits, which int() refuses or
    reads as something else."""
    return text.isascii() and text.isdigit()
