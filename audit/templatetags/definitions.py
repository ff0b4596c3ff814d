"""``{{ event.details|definitions }}``: a JSON object as a definition list (audit.presentation.entries), nested
objects as lists of their own, named values linked, instead of a Python dict's text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.presentation import Entry, Target, entries

register = template.Library()


def _shown(entry: Entry) -> SafeString | str:
    if isinstance(entry.value, list):
        return _list(entry.value)
    if isinstance(entry.value, Target):
        if entry.value.url:
            return format_html('<a href="{}" title="{}">{}</a>', entry.value.url, entry.raw, entry.value.label)
        return format_html('<span title="{}">{}</span>', entry.raw, entry.value.label)
    return entry.value


def _list(items: list[Entry]) -> SafeString:
    return format_html(
        '<dl class="details">{}</dl>',
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", ((e.term, _shown(e)) for e in items)),
    )


@register.filter
def definitions(value: Mapping[str, Any] | list[Entry] | None) -> SafeString | str:
    """A JSON object, or the entries made of one (audit.presentation.entries, with its values named)."""
    if not value:
        return ""
    if isinstance(value, list):
        return _list(value)
    if not isinstance(value, Mapping):
        return str(value)
    return _list(entries(value))
