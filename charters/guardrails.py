"""The rules every charter version must satisfy, beyond the schema: checked when a draft is saved, when it is
submitted, and again when it is approved (the registry may have changed in between)."""

from __future__ import annotations

from typing import Any

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
}


def _find(parsed: Parsed, path: tuple[Any, ...], message: str) -> Problem:
    return Problem(dotted(path), message, parsed.line_of(path))


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


def check(parsed: Parsed, *, partner: Partner, host: Organisation) -> list[Problem]:
    """Every guardrail problem of a schema-valid document, in file order. Resolves asset references in place
    (each gets its registry fingerprint), so what is stored names versions exactly."""
    data = parsed.data
    problems: list[Problem] = []
    owners = [host, partner]

    validity = data["validity"]
    if parse_date(validity["from"]) >= parse_date(validity["until"]):
        problems.append(
            _find(
                parsed,
                ("validity", "until"),
                f"the window must end after it starts ({validity['from']} is not before "
                f"{validity['until']}). Correct validity.from or validity.until.",
            )
        )

    purposes = [purpose["name"] for purpose in data["purposes"]]
    for index, name in enumerate(purposes):
        if purposes.index(name) != index:
            problems.append(_find(parsed, ("purposes", index, "name"), f"purpose {name!r} is listed twice."))

    classifications: dict[str, list[tuple[str, str]]] = {}
    for listing in ("shareable", "proprietary"):
        for index, ref in enumerate(data["assets"].get(listing, [])):
            version, error = _resolve_asset(ref, owners)
            path = ("assets", listing, index)
            if version is None:
                problems.append(_find(parsed, path, error or "not found in the registry."))
                continue
            ref["fingerprint"] = version.fingerprint
            name = f"{version.asset.name} {version.label}"
            if listing == "shareable" and version.classification == AssetVersion.Classification.PROPRIETARY:
                problems.append(
                    _find(
                        parsed,
                        path,
                        f"{name} is classified proprietary, so it can never be shareable. "
                        "List it under assets.proprietary instead.",
                    )
                )
            if listing == "shareable":
                classifications.setdefault(version.asset.kind, []).append((name, version.classification))
    shared = {ref.get("fingerprint") for ref in data["assets"].get("shareable", [])}
    for index, ref in enumerate(data["assets"].get("proprietary", [])):
        if ref.get("fingerprint") and ref["fingerprint"] in shared:
            problems.append(
                _find(
                    parsed,
                    ("assets", "proprietary", index),
                    f"{ref['asset']} {ref['version']} is listed as both "
                    "shareable and proprietary. Keep it in one list.",
                )
            )

    for kind, permitted in data["actions"].items():
        for index, action in enumerate(permitted):
            for purpose in action["purposes"]:
                if purpose not in purposes:
                    problems.append(
                        _find(
                            parsed,
                            ("actions", kind, index, "purposes"),
                            f"{purpose!r} is not one of this charter's "
                            f"purposes ({', '.join(purposes)}). Add it under purposes or remove it here.",
                        )
                    )
            if action["action"] == Action.DOWNLOAD_WEIGHTS:
                blocked = [name for name, level in classifications.get(kind, []) if level in NON_DOWNLOADABLE]
                if blocked:
                    problems.append(
                        _find(
                            parsed,
                            ("actions", kind, index, "action"),
                            "download_weights is never permitted for a "
                            f"restricted or proprietary asset, and this charter shares {', '.join(blocked)} "
                            f"(a {kind}). Remove download_weights for {kind}s, or stop sharing those versions.",
                        )
                    )

    for index, rule in enumerate(data.get("misuse", [])):
        missing = [name for name in RULE_PARAMS[rule["rule"]] if name not in rule.get("params", {})]
        if missing:
            problems.append(
                _find(
                    parsed, ("misuse", index, "params"), f"rule {rule['rule']} needs {', '.join(missing)} under params."
                )
            )

    trainings = [training["name"] for training in data.get("trainings", [])]
    for index, name in enumerate(trainings):
        if trainings.index(name) != index:
            problems.append(_find(parsed, ("trainings", index, "name"), f"training {name!r} is listed twice."))

    wanted = data["incident_response"]["playbook"]
    defined = data.get("playbook")
    if defined is not None and defined["name"] != wanted:
        problems.append(
            _find(
                parsed,
                ("playbook", "name"),
                f"this file defines playbook {defined['name']!r} but "
                f"incident_response.playbook names {wanted!r}. Make them the same.",
            )
        )
    elif defined is None and not IncidentPlaybook.objects.filter(slug=wanted).exists():
        known = ", ".join(IncidentPlaybook.objects.values_list("slug", flat=True)) or "none yet"
        problems.append(
            _find(
                parsed,
                ("incident_response", "playbook"),
                f"there is no incident playbook {wanted!r} (known: "
                f"{known}). Define it under playbook: in this file, or name an existing one.",
            )
        )

    for index, item in enumerate(data["exit_plan"]["items"]):
        if "asset" in item:
            _, error = _resolve_asset(item, owners)
            if error:
                problems.append(_find(parsed, ("exit_plan", "items", index), error))

    return sorted(problems, key=lambda problem: problem.line or 0)
