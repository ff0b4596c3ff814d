"""Serializer fields for what clients send the API, shared by every app: text arrives as text or is refused.

DRF's CharField turns 5 into "5" and true into "True", and its SlugRelatedField looks 5 up as "5": a caller's bug
would be stored instead of answered. Every text input of an API serializer is one of these fields; a test walks the
API's serializers to keep it so (tests/accord/test_hostile_input.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model
from rest_framework import serializers

_M = TypeVar("_M", bound=Model)


def _text(data: Any) -> str:
    if not isinstance(data, str):
        raise serializers.ValidationError(f"Must be text, not {type(data).__name__}.")
    return data


class TextField(serializers.CharField):
    """Text only; otherwise DRF's CharField (max_length, allow_blank, NUL characters refused)."""

    def to_internal_value(self, data: Any) -> str:
        text = _text(data)
        # The schema's maxLength is the sent string's: measured before DRF trims the whitespace around it.
        if self.max_length is not None and len(text) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(super().to_internal_value(text))


class TextSlugRelatedField(serializers.SlugRelatedField[_M]):
    """An object named by its slug, which must be text."""

    def to_internal_value(self, data: Any) -> _M:
        return super().to_internal_value(_text(data))
