"""``{{ event.details|definitions }}``: a JSON object as a definition list (audit.presentation.entries), nested
objects as lists of their own, instead of a Python dict's text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.presentation import Entry, entries

register = template.Library()


def _list(items: list[Entry]) -> SafeString:
    return format_html(
        '<dl class="details">{}</dl>',
        format_html_join(
            "",
            "<dt>{}</dt><dd>{}</dd>",
            ((entry.term, _list(entry.value) if isinstance(entry.value, list) else entry.value) for entry in items),
        ),
    )


@register.filter
def definitions(value: Mapping[str, Any] | None) -> SafeString | str:
    if not value:
        return ""
    if not isinstance(value, Mapping):
        return str(value)
    return _list(entries(value))
