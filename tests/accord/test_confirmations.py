"""Every destructive button asks first: a form that revokes, suspends, refuses, destroys, deactivates, disables,
resets, ends, closes early, withdraws or proposes such an act carries ``data-confirm`` (on the form, or on the
button that does it), a sentence saying what happens; static/accord/forms.js asks it with window.confirm.

Read from the templates, so that a new destructive form without it fails here before any page renders it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# Addresses whose POST destroys or ends something, and the steps of those whose step is in the address.
DESTRUCTIVE = {
    "accounts:factor-remove",
    "accounts:factors-reset",
    "accounts:person-deactivate",
    "accounts:recovery-codes",  # new codes replace the old ones
    "accounts:session-end",
    "accounts:token-revoke",
    "bundle-rollback",
    "charter-terminate",
    "exit-attest",
    "exit-start",
    "incident-close",
    "key-destroy",
    "key-destroy-now",
    "measurement-remove",  # sessions on the entry end at once
    "portal-principal-disable",
    "proposals:proposal-confirm",
    "proposals:proposal-withdraw",
    "review-close",
}
DESTRUCTIVE_STEPS = {"grant-transition": {"revoke", "suspend", "refuse"}, "charters:charter-transition": {"suspend"}}
# A button that says it does one of these (a form posting to its own page names no address).
DESTRUCTIVE_WORDS = re.compile(
    r"^(Revoke|Suspend|Refuse|Destroy|Deactivate|Disable|Remove|End\b|Close|Withdraw|Reset|Schedule destruction"
    r"|Propose (terminating|ending|destroying|the rollback|a factor reset|resetting))"
)

FORM = re.compile(r"<form\b(?P<tag>[^>]*)>(?P<body>.*?)</form>", re.DOTALL)
ACTION = re.compile(r"""action="\{% url '(?P<name>[^']+)'(?P<args>[^%]*)%\}""")
BUTTON = re.compile(r"<button\b(?P<tag>[^>]*)>(?P<label>.*?)</button>", re.DOTALL)
TAGS = re.compile(r"\{[%{#].*?[%}#]\}", re.DOTALL)


def unconfirmed(text: str) -> list[str]:
    """The destructive forms of a template's ``text`` that do not ask first: each as the address or button it
    posts with."""
    found = []
    for form in FORM.finditer(text):
        if "data-confirm" in form["tag"]:
            continue
        buttons = list(BUTTON.finditer(form["body"]))
        action = ACTION.search(form["tag"])
        if action is not None and _destructive(action["name"], action["args"]):
            if not any("data-confirm" in button["tag"] for button in buttons):
                found.append(action["name"])
            continue
        for button in buttons:
            label = " ".join(TAGS.sub("", button["label"]).split())
            if DESTRUCTIVE_WORDS.match(label) and "data-confirm" not in button["tag"]:
                found.append(label)
    return found


def _destructive(name: str, args: str) -> bool:
    if name in DESTRUCTIVE:
        return True
    steps = DESTRUCTIVE_STEPS.get(name, set())
    return any(f"'{step}'" in args for step in steps)


def templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", templates(), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_every_destructive_form_asks_first(path: Path) -> None:
    assert unconfirmed(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_a_destructive_form_by_its_address_or_its_button() -> None:
    by_address = """<form method="post" action="{% url 'grant-transition' grant.pk 'revoke' %}">{% csrf_token %}
      <button type="submit">Go</button></form>"""
    by_button = """<form method="post">{% csrf_token %}<button type="submit">Revoke the ticked items</button></form>"""
    asked = """<form method="post" action="{% url 'grant-transition' grant.pk 'revoke' %}"
      data-confirm="Revoke grant #{{ grant.pk }}?"><button type="submit">Revoke</button></form>"""
    harmless = """<form method="post" action="{% url 'grant-transition' grant.pk 'resume' %}">
      <button type="submit">Resume</button></form>"""
    assert unconfirmed(by_address) == ["grant-transition"]
    assert unconfirmed(by_button) == ["Revoke the ticked items"]
    assert unconfirmed(asked) == [] and unconfirmed(harmless) == []
