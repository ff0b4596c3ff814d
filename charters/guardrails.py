"""The rules every charter version must satisfy, beyond the schema: checked when a draft is saved, when it is
submitted, and again when it is approved (the registry may have changed in between).

Each rule is given only the parts of the document it judges and returns what it finds; ``check`` runs the rules
in one fixed order, names each finding's line and sorts them by line (a finding keeps the rules' order within its
line). Nothing here changes the document: ``pinned`` makes the copy that is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from accounts.models import Organisation, Partner
from charters.documents import Parsed, Problem, dotted, parse_date
from charters.models import AssetVersion, IncidentPlaybook
from charters.vocabulary import Action, MisuseRule

NON_DOWNLOADABLE = {AssetVersion.Classification.RESTRICTED, AssetVersion.Classification.PROPRIETARY}
RULE_PARAMS = {
    MisuseRule.USAGE_SPIKE: ("factor", "window_minutes"),
    MisuseRule.DENIED_EXPORTS: ("count", "window_minutes"),
    MisuseRule.OUTSIDE_WINDOW: (),
    MisuseRule.NEW_CLIENT_ADDRESS: (),
    MisuseRule.REMOVED_MEASUREMENT: (),
}
LISTINGS = ("shareable", "proprietary")

# The attestation terms of a permitted action name things charters does not keep (governance's verifiers and
# measurement allow-lists), so governance registers the check that judges them: given one action's terms, it returns
# (path below "attestation", what to do) for each problem.
AttestationCheck = Callable[[Mapping[str, Any]], list[tuple[tuple[str, ...], str]]]
_attestation_checks: list[AttestationCheck] = []


def attestation_check_register(check: AttestationCheck) -> None:
    if check not in _attestation_checks:
        _attestation_checks.append(check)


class _Finding(NamedTuple):
    """A problem before it is placed on a line: where in the document, and what to do."""

    path: tuple[Any, ...]
    message: str


@dataclass(frozen=True)
class _Listed:
    """An asset reference of assets.shareable or assets.proprietary, with what the registry says of it."""

    listing: str
    index: int
    ref: dict[str, Any]
    version: AssetVersion | None
    error: str | None

    @property
    def path(self) -> tuple[Any, ...]:
        return ("assets", self.listing, self.index)

    @property
    def fingerprint(self) -> str | None:
        """The registry's fingerprint, or the one written when the registry has no such version."""
        return self.version.fingerprint if self.version is not None else self.ref.get("fingerprint")


def _resolve_asset(ref: dict[str, Any], owners: list[Organisation]) -> tuple[AssetVersion | None, str | None]:
    version = (
        AssetVersion.objects.select_related("asset")
        .filter(asset__name=ref["asset"], label=ref["version"], asset__owner__in=owners)
        .first()
    )
    if version is None:
        names = " or ".join(owner.slug for owner in owners)
        return None, (
            f"no asset {ref['asset']!r} with version {ref['version']!r} is registered for {names}. "
            "Register it in the asset registry first, or correct the name and version."
        )
    if ref.get("fingerprint") and ref["fingerprint"] != version.fingerprint:
        return None, (
            f"the fingerprint given does not match {ref['asset']} {ref['version']} in the registry "
            f"({version.fingerprint}). Remove it or correct it."
        )
    return version, None


def _resolve_listed(assets: dict[str, Any], owners: list[Organisation]) -> list[_Listed]:
    """Every listed asset reference, the shareable ones first, each looked up in the registry once."""
    return [
        _Listed(listing, index, ref, *_resolve_asset(ref, owners))
        for listing in LISTINGS
        for index, ref in enumerate(assets.get(listing, []))
    ]


def _version_name(version: AssetVersion) -> str:
    return f"{version.asset.name} {version.label}"


# --- The rules, in the order a charter is read ----------------------------------------------------------


def _window_problems(validity: dict[str, str]) -> list[_Finding]:
    if parse_date(validity["from"]) < parse_date(validity["until"]):
        return []
    message = (
        f"the window must end after it starts ({validity['from']} is not before "
        f"{validity['until']}). Correct validity.from or validity.until."
    )
    return [_Finding(("validity", "until"), message)]


def _twice_named(section: str, noun: str, entries: Sequence[dict[str, Any]]) -> list[_Finding]:
    """Each entry of ``section`` whose name an earlier entry already has."""
    names = [entry["name"] for entry in entries]
    return [
        _Finding((section, index, "name"), f"{noun} {name!r} is listed twice.")
        for index, name in enumerate(names)
        if names.index(name) != index
    ]


def _listing_problems(listed: list[_Listed]) -> list[_Finding]:
    """A reference the registry does not know, and a proprietary version listed as shareable."""
    problems = []
    for entry in listed:
        if entry.version is None:
            problems.append(_Finding(entry.path, entry.error or "not found in the registry."))
        elif entry.listing == "shareable" and entry.version.classification == AssetVersion.Classification.PROPRIETARY:
            message = (
                f"{_version_name(entry.version)} is classified proprietary, so it can never be shareable. "
                "List it under assets.proprietary instead."
            )
            problems.append(_Finding(entry.path, message))
    return problems


def _both_listed_problems(listed: list[_Listed]) -> list[_Finding]:
    shared = {entry.fingerprint for entry in listed if entry.listing == "shareable"}
    return [
        _Finding(
            entry.path,
            f"{entry.ref['asset']} {entry.ref['version']} is listed as both shareable and proprietary. "
            "Keep it in one list.",
        )
        for entry in listed
        if entry.listing == "proprietary" and entry.fingerprint and entry.fingerprint in shared
    ]


def _shared_by_kind(listed: list[_Listed]) -> dict[str, list[tuple[str, str]]]:
    """The registered shareable versions, as (name, classification), by asset kind."""
    shared: dict[str, list[tuple[str, str]]] = {}
    for entry in listed:
        if entry.listing == "shareable" and entry.version is not None:
            version = entry.version
            shared.setdefault(version.asset.kind, []).append((_version_name(version), version.classification))
    return shared


def _action_problems(
    actions: dict[str, list[dict[str, Any]]], purposes: list[str], shared: dict[str, list[tuple[str, str]]]
) -> list[_Finding]:
    """Each permitted action's purposes must be the charter's, and no restricted or proprietary version may be
    downloaded."""
    problems = []
    for kind, permitted in actions.items():
        for index, action in enumerate(permitted):
            path = ("actions", kind, index)
            problems += [
                _Finding(
                    (*path, "purposes"),
                    f"{purpose!r} is not one of this charter's purposes ({', '.join(purposes)}). "
                    "Add it under purposes or remove it here.",
                )
                for purpose in action["purposes"]
                if purpose not in purposes
            ]
            if action["action"] == Action.DOWNLOAD_WEIGHTS:
                problems += _download_problems((*path, "action"), kind, shared.get(kind, []))
    return problems


def _download_problems(path: tuple[Any, ...], kind: str, shared: list[tuple[str, str]]) -> list[_Finding]:
    blocked = [name for name, level in shared if level in NON_DOWNLOADABLE]
    if not blocked:
        return []
    message = (
        "download_weights is never permitted for a restricted or proprietary asset, and this charter "
        f"shares {', '.join(blocked)} (a {kind}). Remove download_weights for {kind}s, or stop sharing "
        "those versions."
    )
    return [_Finding(path, message)]


def _attestation_problems(actions: dict[str, list[dict[str, Any]]]) -> list[_Finding]:
    """Each action's attestation terms as the registered checks judge them; and one action listed twice for a kind
    must not ask two different things of an enclave."""
    problems = []
    for kind, permitted in actions.items():
        first: dict[str, Any] = {}
        for index, action in enumerate(permitted):
            terms = action.get("attestation")
            path = ("actions", kind, index, "attestation")
            if terms is None:
                continue
            earlier = first.setdefault(action["action"], terms)
            if earlier != terms:
                message = (
                    f"{action['action']} is listed again for {kind}s with other attestation terms. Give the "
                    "same terms in every entry of an action, or merge the entries."
                )
                problems.append(_Finding(path, message))
            for check in _attestation_checks:
                problems += [
                    _Finding((*path, *(int(part) if part.isdigit() else part for part in where)), message)
                    for where, message in check(terms)
                ]
    return problems


def _misuse_problems(misuse: list[dict[str, Any]]) -> list[_Finding]:
    problems = []
    for index, rule in enumerate(misuse):
        missing = [name for name in RULE_PARAMS[rule["rule"]] if name not in rule.get("params", {})]
        if missing:
            message = f"rule {rule['rule']} needs {', '.join(missing)} under params."
            problems.append(_Finding(("misuse", index, "params"), message))
    return problems


def _playbook_problems(wanted: str, defined: dict[str, Any] | None) -> list[_Finding]:
    """The playbook incident_response names is the one this file defines, or one that exists already."""
    if defined is not None and defined["name"] != wanted:
        message = (
            f"this file defines playbook {defined['name']!r} but incident_response.playbook names {wanted!r}. "
            "Make them the same."
        )
        return [_Finding(("playbook", "name"), message)]
    if defined is None and not IncidentPlaybook.objects.filter(slug=wanted).exists():
        known = ", ".join(IncidentPlaybook.objects.values_list("slug", flat=True)) or "none yet"
        message = (
            f"there is no incident playbook {wanted!r} (known: {known}). Define it under playbook: in this file, "
            "or name an existing one."
        )
        return [_Finding(("incident_response", "playbook"), message)]
    return []


def _exit_plan_problems(items: list[dict[str, Any]], owners: list[Organisation]) -> list[_Finding]:
    """An item that names an asset version (rather than a kind of asset) must name a registered one."""
    problems = []
    for index, item in enumerate(items):
        if "asset" not in item:
            continue
        _, error = _resolve_asset(item, owners)
        if error:
            problems.append(_Finding(("exit_plan", "items", index), error))
    return problems


# --- Checking and pinning a document --------------------------------------------------------------------


def check(parsed: Parsed, *, partner: Partner, host: Organisation) -> list[Problem]:
    """Every guardrail problem of a schema-valid document, in file order."""
    data = parsed.data
    owners = [host, partner]
    listed = _resolve_listed(data["assets"], owners)
    findings = [
        *_window_problems(data["validity"]),
        *_twice_named("purposes", "purpose", data["purposes"]),
        *_listing_problems(listed),
        *_both_listed_problems(listed),
        *_action_problems(data["actions"], [purpose["name"] for purpose in data["purposes"]], _shared_by_kind(listed)),
        *_attestation_problems(data["actions"]),
        *_misuse_problems(data.get("misuse", [])),
        *_twice_named("trainings", "training", data.get("trainings", [])),
        *_playbook_problems(data["incident_response"]["playbook"], data.get("playbook")),
        *_exit_plan_problems(data["exit_plan"]["items"], owners),
    ]
    problems = [Problem(dotted(path), message, parsed.line_of(path)) for path, message in findings]
    return sorted(problems, key=lambda problem: problem.line or 0)


def pinned(parsed: Parsed, *, partner: Partner, host: Organisation) -> Parsed:
    """A copy of the document in which every listed asset the registry knows carries its registry fingerprint, so
    that what is stored names versions exactly. A reference the registry does not resolve is copied as written
    (``check`` reports it)."""
    data = copy.deepcopy(parsed.data)
    for entry in _resolve_listed(data["assets"], [host, partner]):
        if entry.version is not None:
            entry.ref["fingerprint"] = entry.version.fingerprint
    return Parsed(data=data, lines=parsed.lines)
