"""A service's ValidationError for people: one sentence for a terminal or a log, or errors on the form that sent
it; reading a number from text."""

import contextlib
from collections.abc import Iterator

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


@contextlib.contextmanager
def errors_on(form: forms.Form) -> Iterator[None]:
    """The one way a page hands a form's data to a service: a ValidationError the service raises inside the block
    becomes the form's errors (show_on_form), so ``form.is_valid()`` is False after it and the page shows the form
    again, with what was typed, instead of a 500.

        if request.method == "POST" and form.is_valid():
            with errors_on(form):
                token = services.api_token_issue(...)
            if form.is_valid():
                ...  # the service took it
    """
    try:
        yield
    except ValidationError as error:
        show_on_form(form, error)


def is_whole_number(text: str) -> bool:
    """Plain ASCII digits: str.isdigit() alone also takes "²" and other scripts' digits, which int() refuses or
    reads as something else."""
    return text.isascii() and text.isdigit()
