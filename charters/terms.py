"""A charter version's terms, typed: what governance reads of a version (its window, what it shares and permits,
its purposes, misuse rules, review and incident terms, trainings), built once from the stored document.

The document's shape belongs to charters (the schema in charters/schema/); other apps read these terms, never
the document's keys. A version's content never changes once submitted, and a draft's edit changes its content
hash, so terms are kept by that hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from charters import documents

if TYPE_CHECKING:
    from charters.models import CharterVersion

# The schema's defaults, where a charter may leave a term out.
DEFAULT_REMEDIATION_HOURS = 24
DEFAULT_UNANSWERED = "revoke"
DEFAULT_SEVERITY = "medium"


@dataclass(frozen=True)
class Window:
    """The charter's validity, as whole days: grants may run from midnight (UTC) of the first day to midnight of
    the last; the charter expires the day after the last."""

    first_day: date
    last_day: date

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.first_day, time(), tzinfo=UTC)

    @property
    def ends(self) -> datetime:
        return datetime.combine(self.last_day, time(), tzinfo=UTC)

    def as_document(self) -> dict[str, str]:
        return {"from": self.first_day.isoformat(), "until": self.last_day.isoformat()}


@dataclass(frozen=True)
class SharedAsset:
    asset: str
    version: str
    fingerprint: str | None  # pinned from the registry when the version was written


@dataclass(frozen=True)
class MisuseTerm:
    name: str
    rule: str
    severity: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ReviewTerms:
    cadence_days: int | None
    unanswered: str


@dataclass(frozen=True)
class IncidentTerms:
    playbook: str
    notify: tuple[str, ...]
    remediation_hours: int


@dataclass(frozen=True)
class Training:
    name: str
    version: str
    link: str


@dataclass(frozen=True)
class VersionTerms:
    window: Window
    purposes: tuple[str, ...]
    shared: tuple[SharedAsset, ...]
    # {asset kind: {action: {"purposes": set, "obligations": [...]}}}, as documents.permissions() reads it
    permissions: Mapping[str, Mapping[str, Mapping[str, Any]]]
    misuse: tuple[MisuseTerm, ...]
    review: ReviewTerms
    incident_response: IncidentTerms
    trainings: tuple[Training, ...]

    @property
    def shareable_fingerprints(self) -> frozenset[str]:
        return frozenset(asset.fingerprint for asset in self.shared if asset.fingerprint)

    @property
    def measurement_lists(self) -> frozenset[str]:
        """The measurement allow-lists this version's attestation terms name, for any action."""
        return frozenset(
            name
            for actions in self.permissions.values()
            for permitted in actions.values()
            for name in (permitted.get("attestation") or {}).get("measurements", ())
        )

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> VersionTerms:
        validity = document["validity"]
        review = document.get("review", {})
        incident = document.get("incident_response", {})
        return cls(
            window=Window(documents.parse_date(validity["from"]), documents.parse_date(validity["until"])),
            purposes=tuple(purpose["name"] for purpose in document.get("purposes", [])),
            shared=tuple(
                SharedAsset(ref["asset"], str(ref["version"]), ref.get("fingerprint"))
                for ref in document.get("assets", {}).get("shareable", [])
            ),
            permissions=MappingProxyType(documents.permissions(dict(document))),
            misuse=tuple(
                MisuseTerm(
                    name=entry["name"],
                    rule=entry["rule"],
                    severity=entry.get("severity", DEFAULT_SEVERITY),
                    params=MappingProxyType(dict(entry.get("params", {}))),
                )
                for entry in document.get("misuse", [])
            ),
            review=ReviewTerms(
                cadence_days=review.get("cadence_days"), unanswered=str(review.get("unanswered", DEFAULT_UNANSWERED))
            ),
            incident_response=IncidentTerms(
                playbook=str(incident.get("playbook", "")),
                notify=tuple(incident.get("notify", [])),
                remediation_hours=int(incident.get("remediation_hours", DEFAULT_REMEDIATION_HOURS)),
            ),
            trainings=tuple(
                Training(training["name"], str(training["version"]), training.get("link", ""))
                for training in document.get("trainings", [])
            ),
        )


_BUILT: dict[str, VersionTerms] = {}
_KEEP = 1024  # versions' terms kept in a process; charters are few, drafts' edits add one each


def terms_of(version: CharterVersion) -> VersionTerms:
    """The version's terms, built once per content."""
    terms = _BUILT.get(version.content_hash)
    if terms is None:
        if len(_BUILT) >= _KEEP:
            _BUILT.clear()
        terms = _BUILT[version.content_hash] = VersionTerms.of(version.document)
    return terms
