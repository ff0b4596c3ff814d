"""The trail as people read it: each event's target by name, linked to its page, and its details as a list.

The trail keeps a target as its kind and id (``governance.grant`` and ``12``) and depends on no other app, so it
cannot say what they name. Each app that owns kinds says so in a module ``trail_targets`` of its own, found the
first time a page asks (as Django's admin finds ``admin`` modules): for each kind, a function that names a whole
page's ids of it at once, in one query, from what the reader may see. A kind nobody names, or an id its function
does not find, is shown by its model's name and id, unlinked. The same goes for the values of a few keys of the
details that mean the same in every event (``grant``: a grant's id; ``asset``: an asset version's fingerprint).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.utils.module_loading import autodiscover_modules

from audit.models import Event


@dataclass(frozen=True)
class Target:
    """What an event acted on, as a page names it: a label and, when it has one, its page."""

    label: str
    url: str = ""


# (the reader, the page's ids of one kind) -> the names of those it finds, by id.
Namer = Callable[[Any, Sequence[str]], Mapping[str, Target]]
_NAMERS: dict[str, Namer] = {}
_DETAIL_NAMERS: dict[str, Namer] = {}


def target_register(kind: str, namer: Namer) -> None:
    """Name the trail's targets of ``kind`` (a model's ``app_label.modelname``) with ``namer``; from the owning
    app's ``trail_targets`` module."""
    _NAMERS[kind] = namer


def detail_register(key: str, namer: Namer) -> None:
    """Name the values of the details' top-level ``key`` with ``namer``, in whichever event they appear: only for
    keys that mean one thing everywhere."""
    _DETAIL_NAMERS[key] = namer


@functools.cache
def _discover() -> None:
    autodiscover_modules("trail_targets")


def pks(ids: Iterable[str]) -> list[int]:
    """The ids that are whole numbers, as numbers: what a namer looks up by primary key."""
    return [int(pk) for pk in ids if pk.isascii() and pk.isdigit()]


def _unnamed(kind: str, target_id: str) -> Target:
    try:
        model = apps.get_model(kind)
    except (LookupError, ValueError):
        return Target(f"{kind} {target_id}")
    return Target(f"{model._meta.verbose_name} {target_id}")


def targets_named(events: Iterable[Event], *, viewer: Any) -> dict[tuple[str, str], Target]:
    """The targets of ``events`` by (kind, id): one query per kind, whatever the number of events."""
    _discover()
    ids: dict[str, set[str]] = {}
    for event in events:
        if event.target_type:
            ids.setdefault(event.target_type, set()).add(event.target_id)
    named: dict[tuple[str, str], Target] = {}
    for kind, kind_ids in ids.items():
        namer = _NAMERS.get(kind)
        found = namer(viewer, sorted(kind_ids)) if namer is not None else {}
        for target_id in kind_ids:
            named[(kind, target_id)] = found.get(target_id) or _unnamed(kind, target_id)
    return named


def details_named(events: Iterable[Event], *, viewer: Any) -> dict[tuple[str, str], Target]:
    """The named values of ``events``' details by (key, value): one query per key, whatever the number of events."""
    _discover()
    values: dict[str, set[str]] = {}
    for event in events:
        for key in _DETAIL_NAMERS.keys() & event.details.keys():
            value = event.details[key]
            if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                values.setdefault(key, set()).add(str(value))
    named: dict[tuple[str, str], Target] = {}
    for key, found in values.items():
        for value, target in _DETAIL_NAMERS[key](viewer, sorted(found)).items():
            named[(key, value)] = target
    return named


@dataclass(frozen=True)
class Entry:
    """One term of a definition list and its value: words, a named value (``raw`` is what the event holds), or a
    list of entries of its own."""

    term: str
    value: str | Target | list[Entry]
    raw: str = ""


def _words(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _value(value: Any) -> str | list[Entry]:
    if isinstance(value, Mapping):
        return entries(value)
    if isinstance(value, list | tuple):
        if any(isinstance(item, Mapping | list | tuple) for item in value):
            return [Entry(str(position), _value(item)) for position, item in enumerate(value, start=1)]
        return ", ".join(_words(item) for item in value) or "none"
    return _words(value)


def entries(details: Mapping[str, Any], named: Mapping[tuple[str, str], Target] | None = None) -> list[Entry]:
    """``details`` (an event's, or any JSON object) as a definition list: each key in words ("changed_by" is
    "changed by"), each value in words, nested objects and lists of them as lists of their own; a top-level value
    ``named`` names (details_named) by its name."""
    shown = []
    for key, value in details.items():
        term = str(key).replace("_", " ")
        target = (named or {}).get((str(key), str(value))) if isinstance(value, str | int) else None
        shown.append(Entry(term, target, str(value)) if target is not None else Entry(term, _value(value)))
    return shown
