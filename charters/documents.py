"""Charters as documents: YAML in, validated against the published JSON Schema and the guardrails, out again.

The file, the web editor and the API all go through ``parse`` and ``check``, so a charter is judged the same way
wherever it comes from. Problems name the line (for YAML), the field as a dotted path, and what to do.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from charters.vocabulary import VOCABULARIES

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "charter.schema.json"
ENUM_COMMENT = "enum: "


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(document)'}: {self.message}"


@dataclass
class CharterDocumentError(Exception):
    """Everything wrong with a charter document, each problem with its place and what to do."""

    problems: list[Problem]
    source: str = ""

    def lines(self) -> list[int]:
        """The lines of the document that the problems name, each once and in order: what an editor marks."""
        return sorted({problem.line for problem in self.problems if problem.line})

    def __str__(self) -> str:
        head = f"{self.source} is not a valid charter" if self.source else "The charter is not valid"
        return head + ":\n" + "\n".join(f"  - {problem}" for problem in self.problems)


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: `from: 2026-01-01` stays the string the schema expects."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def schema() -> dict[str, Any]:
    """The published schema: the file, with the closed vocabularies' values filled in from charters/vocabulary.py,
    so the schema and the code that stores or compares those words share one list."""
    return dict(_with_vocabularies(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))))


def _with_vocabularies(node: Any) -> Any:
    """A node saying ``"$comment": "enum: Name"`` becomes ``{"enum": Name.values}`` (and its other keys)."""
    if isinstance(node, dict):
        comment = str(node.get("$comment", ""))
        if comment.startswith(ENUM_COMMENT):
            vocabulary = VOCABULARIES[comment.removeprefix(ENUM_COMMENT)]
            return {"enum": list(vocabulary.values), **{k: v for k, v in node.items() if k != "$comment"}}
        return {key: _with_vocabularies(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_vocabularies(item) for item in node]
    return node


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@dataclass
class Parsed:
    data: dict[str, Any]
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, path: Iterable[Any]) -> int | None:
        """The line of the deepest part of ``path`` that the file has."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None


def _index_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _index_lines(value_node, (*path, key_node.value), lines)
            lines[(*path, key_node.value)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines)


def dotted(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse(
    text: str, *, source: str = "", expected: str = "a charter file is a YAML mapping that starts with `name:`."
) -> Parsed:
    """YAML text to a mapping with line numbers, or CharterDocumentError naming the line. ``expected`` says what
    the file should be when it is not a mapping (other YAML files of ours are parsed here too)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise CharterDocumentError([Problem("", f"this is not valid YAML: {problem}.", line)], source) from None
    if not isinstance(data, dict):
        raise CharterDocumentError([Problem("", expected, 1)], source)
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return Parsed(data=data, lines=lines)


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}. Allowed here: {', '.join(allowed)}."
    if error.validator == "type" and error.validator_value == "string" and isinstance(error.instance, int | float):
        return f'{error.instance!r} must be text: put it in quotes, e.g. "{error.instance}".'
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}."
    # A field whose description says what a valid value is (a pattern's, a number's) is explained in those words.
    numeric = error.validator in ("minimum", "exclusiveMinimum") or (
        error.validator == "type" and error.validator_value in ("integer", "number")
    )
    if (error.validator == "pattern" or numeric) and error.schema.get("description"):
        return f"{error.instance!r} must be {error.schema['description']}."
    if error.validator == "oneOf":
        return "give either asset and version, or asset_kind (not both)."
    return error.message + "."


def _schema_line(parsed: Parsed, error: jsonschema.ValidationError) -> int | None:
    """The line a schema error is about. A key that is not allowed is on its own line: the error's path names only
    the mapping it is in, which is the whole document (no line at all) for a key at the top."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        unexpected = [
            key
            for key in error.instance
            if key not in allowed and not any(re.search(pattern, str(key)) for pattern in patterns)
        ]
        if unexpected:
            return parsed.line_of([*path, unexpected[0]])
    return parsed.line_of(path)


def validate_schema(parsed: Parsed, *, source: str = "", validator: jsonschema.Validator | None = None) -> None:
    """Every way the document breaks the charter schema (or ``validator``'s), each with its line."""
    validator = validator or _validator()
    located = [(_schema_line(parsed, error), error) for error in validator.iter_errors(parsed.data)]
    located.sort(key=lambda pair: (pair[0] or 0, pair[1].path))
    if located:
        problems = [Problem(dotted(error.absolute_path), _schema_message(error), line) for line, error in located]
        raise CharterDocumentError(problems, source)


# --- Canonical form -----------------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# --- The agreement and the host's own terms ---------------------------------------------------------------
#
# A charter holds two things: the agreement the partner reads and accepts, and a few terms that are the host's
# alone: the detection thresholds and windows of its misuse rules (a partner who knew them could stay just under
# them) and the internal notification lists of its incident response. The partner sees that each misuse rule
# exists, what it watches and how grave it is; never its numbers or who inside the host is told.


def agreement_of(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the partner sees and accepts it: without the host-only terms."""
    agreement = json.loads(json.dumps(document))  # a deep copy of JSON data
    for rule in agreement.get("misuse", []):
        rule.pop("params", None)
    incident = agreement.get("incident_response")
    if isinstance(incident, dict):
        incident.pop("notify", None)
    playbook = agreement.get("playbook")
    if isinstance(playbook, dict):
        playbook.pop("notify", None)
    return agreement


def host_terms_of(document: dict[str, Any]) -> dict[str, Any]:
    """The host-only terms of a document, by where they sit: each misuse rule's params by its name, and the
    notification lists. Empty parts are left out."""
    terms: dict[str, Any] = {}
    thresholds = {rule["name"]: rule["params"] for rule in document.get("misuse", []) if rule.get("params")}
    if thresholds:
        terms["misuse"] = thresholds
    for section in ("incident_response", "playbook"):
        notify = (document.get(section) or {}).get("notify")
        if notify:
            terms[f"{section}.notify"] = list(notify)
    return terms


def _resolved(node: dict[str, Any] | None) -> dict[str, Any]:
    node = node or {}
    while "$ref" in node:
        node = schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _ordered(value: Any, node: dict[str, Any] | None) -> Any:
    node = _resolved(node)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        keys = [key for key in properties if key in value] + sorted(key for key in value if key not in properties)
        return {key: _ordered(value[key], properties.get(key)) for key in keys}
    if isinstance(value, list):
        return [_ordered(item, node.get("items")) for item in value]
    return value


def ordered(document: dict[str, Any]) -> dict[str, Any]:
    """Keys in the schema's order at every level (free-form ones sorted), so that a rendering depends only on
    the content: not on the file's order, nor on a database that reorders JSON objects (PostgreSQL's jsonb)."""
    return dict(_ordered(document, schema()))


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(ordered(document), sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)


def unified_diff(before: str, after: str, *, before_name: str, after_name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), fromfile=before_name, tofile=after_name, lineterm=""
        )
    )


def side_by_side(before: str, after: str, *, before_name: str, after_name: str) -> str:
    """An HTML table of two renderings, changed lines marked, with a little context."""
    return difflib.HtmlDiff(wrapcolumn=70).make_table(
        before.splitlines(), after.splitlines(), before_name, after_name, context=True, numlines=3
    )


def parse_date(value: str) -> date:
    return date.fromisoformat(value)


def permissions(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """What a version permits: {asset kind: {action: {"purposes": set, "obligations": [..], "attestation": terms
    or None}}}. An action listed twice takes the attestation terms of its first entry that has some (the guardrails
    refuse two entries whose terms differ)."""
    permitted: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, actions in document.get("actions", {}).items():
        for entry in actions:
            slot = permitted.setdefault(kind, {}).setdefault(
                entry["action"], {"purposes": set(), "obligations": [], "attestation": None}
            )
            slot["purposes"].update(entry["purposes"])
            slot["obligations"].extend(entry.get("obligations", []))
            if slot["attestation"] is None:
                slot["attestation"] = entry.get("attestation")
    return permitted


def shareable_fingerprints(document: dict[str, Any]) -> set[str]:
    return {ref["fingerprint"] for ref in document.get("assets", {}).get("shareable", []) if "fingerprint" in ref}
