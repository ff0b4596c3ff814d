"""The measurement allow-lists officers keep: creating a list, adding a measured environment to it and removing one,
and reading them back (the lists, a list's entries at any version, its history, the charters that name it).

A charter names a list (``actions.<kind>[].attestation.measurements``), and the decision point reads the list's
entries that are not removed, so a change here takes effect at the next decision, without a charter amendment. Each
change makes a new version of the list, under a row lock on the list so that two officers' changes get two
versions, and is recorded in the trail with the list, its new version, the platform and the values.

Only governance officers change the lists (the matrix's OFFICER audience for the pages that do); auditors read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.services import actor_for
from audit.models import Event
from audit.trail import record
from charters.models import CharterVersion
from charters.terms import terms_of
from governance.attestation.evidence import measurement_digest
from governance.attestation.requirements import MEASUREMENT_REMOVED_REASON
from governance.decisions.sessions import sessions_end
from governance.models import Measurement, MeasurementList

LIST_CREATED = "measurements.list_created"
ENTRY_ADDED = "measurements.entry_added"
ENTRY_REMOVED = "measurements.entry_removed"

REFUSAL = "Only governance officers keep measurement allow-lists."

# What a charter may name a list by: the charter schema's slug (charters/schema/charter.schema.json), which is
# narrower than Django's SlugField (no capitals, no underscores).
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Every value is a SHA-384 digest, as each platform reports it: 48 bytes, 96 hex digits.
HEX_DIGITS = 96
HEX = re.compile(r"^[0-9a-f]*$")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool


# The values each platform's entries carry, in the order the pages show them.
FIELDS: Mapping[str, tuple[Field, ...]] = {
    Measurement.Platform.SNP: (Field("launch_measurement", "launch measurement", True),),
    Measurement.Platform.TDX: (
        Field("mrtd", "MRTD", True),
        *(Field(f"rtmr{index}", f"RTMR{index}", False) for index in range(4)),
    ),
    Measurement.Platform.NITRO: tuple(Field(f"pcr{index}", f"PCR{index}", True) for index in range(3)),
}
# Where an officer finds each platform's values: in the messages, so a refused value says where to look.
SOURCES: Mapping[str, str] = {
    Measurement.Platform.SNP: "the x-ms-sevsnpvm-launchmeasurement claim of Azure's attestation token",
    Measurement.Platform.TDX: "the TD quote's MRTD and RTMR registers",
    Measurement.Platform.NITRO: "nitro-cli describe-eif (Measurements: PCR0, PCR1, PCR2)",
}


def _officer(officer: User) -> None:
    if not officer.is_officer:
        raise PermissionDenied(REFUSAL)


def _locked(allow_list: MeasurementList) -> MeasurementList:
    """The list, locked until the transaction ends: another officer's change waits and then takes the next
    version, rather than both writing the same one."""
    return MeasurementList.objects.select_for_update().get(pk=allow_list.pk)


def _bumped(allow_list: MeasurementList, now: datetime) -> int:
    allow_list.version += 1
    allow_list.updated_at = now
    allow_list.save(update_fields=["version", "updated_at"])
    return allow_list.version


# --- Validation -------------------------------------------------------------------------------------------


def measurement_values_clean(platform: str, values: Mapping[str, Any]) -> dict[str, str]:
    """``values`` as an entry of ``platform`` stores them: lower-case hex by name, blank ones left out; a
    ValidationError naming each value that is missing, unknown or not 96 hex digits otherwise."""
    if platform not in FIELDS:
        choices = ", ".join(f"{value} ({label})" for value, label in Measurement.Platform.choices)
        raise ValidationError({"platform": f"Choose the platform the enclave runs on: {choices}."})
    fields = {field.name: field for field in FIELDS[platform]}
    label = Measurement.Platform(platform).label
    problems: dict[str, list[str]] = {}
    unknown = sorted(str(name) for name in values if name not in fields)
    if unknown:
        problems["values"] = [f"{label} measurements carry {', '.join(fields)} only, not {', '.join(unknown)}."]
    cleaned: dict[str, str] = {}
    for name, field in fields.items():
        given = values.get(name)
        text = given.strip().lower() if isinstance(given, str) else ""
        if given is not None and not isinstance(given, str):
            problems[name] = [f"The {field.label} must be text: {HEX_DIGITS} hex digits."]
        elif not text:
            if field.required:
                problems[name] = [
                    f"A measurement for {label} needs its {field.label}: copy it from {SOURCES[platform]}."
                ]
        elif not HEX.match(text):
            problems[name] = [f"The {field.label} must be hex digits (0-9, a-f) only; it holds other characters."]
        elif len(text) != HEX_DIGITS:
            problems[name] = [
                f"The {field.label} must be {HEX_DIGITS} hex digits (48 bytes, a SHA-384 digest); this one has "
                f"{len(text)}. Copy the whole value from {SOURCES[platform]}."
            ]
        else:
            cleaned[name] = text
    if problems:
        raise ValidationError(problems)
    return cleaned


# --- Services ---------------------------------------------------------------------------------------------


@transaction.atomic
def measurement_list_create(*, officer: User, name: str, title: str = "") -> MeasurementList:
    """A new, empty allow-list at version 1, named as charters will name it."""
    _officer(officer)
    name, title = name.strip(), title.strip()
    if not NAME.match(name):
        raise ValidationError(
            {
                "name": "A list's name is what charters name it by: lowercase letters, digits and dashes, starting "
                "with a letter or digit, at most 64 characters (e.g. atlas-serving)."
            }
        )
    if MeasurementList.objects.filter(name=name).exists():
        raise ValidationError({"name": f"There is a measurement list named {name} already: choose another name."})
    now = timezone.now()
    allow_list = MeasurementList(name=name, title=title, created_by=officer, created_at=now, updated_at=now)
    allow_list.full_clean()
    allow_list.save()
    record(
        action=LIST_CREATED,
        actor=actor_for(officer),
        target=allow_list,
        details={"allow_list": allow_list.name, "title": allow_list.title, "version": allow_list.version},
    )
    return allow_list


@transaction.atomic
def measurement_add(
    *, officer: User, allow_list: MeasurementList, platform: str, values: Mapping[str, Any], note: str = ""
) -> Measurement:
    """Put a measured environment on the list, in a new version of it: evidence that carries these values
    matches the list from the next decision on."""
    _officer(officer)
    cleaned = measurement_values_clean(platform, values)
    note = note.strip()
    if len(note) > 200:
        raise ValidationError({"note": f"Keep the note to 200 characters (it has {len(note)}); the trail keeps it."})
    allow_list = _locked(allow_list)
    digest = measurement_digest(platform, cleaned)
    listed = allow_list.entries.filter(digest=digest, removed_at__isnull=True).first()
    if listed is not None:
        raise ValidationError(
            f"This environment is already on this list as entry #{listed.pk} (added in version {listed.added_in})."
        )
    now = timezone.now()
    version = _bumped(allow_list, now)
    entry = Measurement(
        allow_list=allow_list,
        platform=platform,
        values=cleaned,
        digest=digest,
        note=note,
        added_by=officer,
        added_at=now,
        added_in=version,
    )
    entry.full_clean()
    entry.save()
    record(
        action=ENTRY_ADDED,
        actor=actor_for(officer),
        target=entry,
        details={
            "allow_list": allow_list.name,
            "version": version,
            "platform": platform,
            "values": cleaned,
            "note": note,
        },
    )
    return entry


@transaction.atomic
def measurement_remove(*, officer: User, entry: Measurement, reason: str) -> Measurement:
    """Take an entry off its list, in a new version of it: evidence with these values no longer matches, and
    sessions opened on the entry end. The entry is kept, stamped, so the list's history stays readable."""
    _officer(officer)
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why this measurement comes off the list: the reason goes into the trail."}
        )
    allow_list = _locked(entry.allow_list)
    # Read again under the lock: another officer may have removed it while this one was deciding.
    entry = Measurement.objects.get(pk=entry.pk)
    if entry.removed_at is not None:
        raise ValidationError(
            f"Entry #{entry.pk} was already removed from {allow_list.name}, in version {entry.removed_in}."
        )
    now = timezone.now()
    version = _bumped(allow_list, now)
    entry.removed_by, entry.removed_at, entry.removed_in = officer, now, version
    entry.save(update_fields=["removed_by", "removed_at", "removed_in"])
    # Its sessions end in this transaction, and every process hears of it through the policy feed.
    ended = sessions_end(reason=MEASUREMENT_REMOVED_REASON, by=actor_for(officer), entry_id=entry.pk, now=now)
    record(
        action=ENTRY_REMOVED,
        actor=actor_for(officer),
        target=entry,
        reason=reason,
        details={
            "allow_list": allow_list.name,
            "version": version,
            "platform": entry.platform,
            "values": entry.values,
            "reason": reason,
            "sessions_ended": ended,
        },
    )
    entry.allow_list = allow_list
    return entry


# --- Selectors --------------------------------------------------------------------------------------------


def measurement_lists() -> QuerySet[MeasurementList]:
    """Every list, with ``current_entries``: how many entries it holds now."""
    return MeasurementList.objects.annotate(
        current_entries=Count("entries", filter=Q(entries__removed_at__isnull=True))
    ).order_by("name")


def measurement_entries(allow_list: MeasurementList, *, version: int | None = None) -> QuerySet[Measurement]:
    """The list's entries now, or as they stood at ``version``: added by then and not yet removed."""
    entries = allow_list.entries.select_related("added_by", "removed_by").order_by("added_in", "id")
    if version is None:
        return entries.filter(removed_at__isnull=True)
    return entries.filter(Q(removed_in__isnull=True) | Q(removed_in__gt=version), added_in__lte=version)


@dataclass(frozen=True)
class Change:
    """One version of a list: what made it (``created``, ``added`` or ``removed``), when, by whom, and the
    entry, note or reason it concerns."""

    version: int
    kind: str
    at: datetime
    by: str
    entry: Measurement | None = None
    words: str = ""


def measurement_history(allow_list: MeasurementList) -> list[Change]:
    """The list's changes, newest first, read from its entries' stamps; a removal's reason from the trail,
    which is where it is kept."""
    entries = list(allow_list.entries.select_related("added_by", "removed_by"))
    removed = [entry for entry in entries if entry.removed_in is not None]
    reasons = dict(
        Event.objects.filter(
            action=ENTRY_REMOVED,
            target_type=Measurement._meta.label_lower,
            target_id__in=[str(entry.pk) for entry in removed],
        ).values_list("target_id", "reason")
    )
    created_by = User.objects.only("username").get(pk=allow_list.created_by_id)
    changes = [Change(1, "created", allow_list.created_at, created_by.get_username(), words=allow_list.title)]
    for entry in entries:
        by = entry.added_by.get_username()
        changes.append(Change(entry.added_in, "added", entry.added_at, by, entry, entry.note))
        if entry.removed_in is not None and entry.removed_at is not None and entry.removed_by is not None:
            by = entry.removed_by.get_username()
            reason = reasons.get(str(entry.pk), "")
            changes.append(Change(entry.removed_in, "removed", entry.removed_at, by, entry, reason))
    return sorted(changes, key=lambda change: change.version, reverse=True)


def charters_naming(name: str) -> list[CharterVersion]:
    """The charters whose active version asks for evidence measured on the list ``name``. Active versions are
    few, so their terms are read and searched here rather than by a JSON query each database would need its own
    of."""
    versions = CharterVersion.objects.filter(status=CharterVersion.Status.ACTIVE).select_related("charter")
    return [version for version in versions.order_by("charter__slug") if name in terms_of(version).measurement_lists]
