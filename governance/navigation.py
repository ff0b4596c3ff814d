"""The site's navigation, by who is signed in: a few groups rather than a row of every page, and the group and page
a person is on marked (``aria-current``). A template context processor, so every page gets the same menu.

A link's ``matches`` are URL names, or prefixes of them ending in ``-`` or ``:``, of the pages that belong to it:
the grants link is current on the grant list, a grant's request form and its transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.matrix import may_open


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    matches: tuple[str, ...] = ()
    current: bool = False

    @property
    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class Group:
    label: str
    links: tuple[Link, ...] = field(default_factory=tuple)

    @property
    def current(self) -> bool:
        return any(link.current for link in self.links)


# An entry is a link on its own or a group of links (a dropdown).
Entry = Link | Group

HOST: tuple[Entry, ...] = (
    Link("Home", "home", ("home",)),
    Group(
        "Access",
        (
            Link("Charters", "charters:charter-list", ("charters:",)),
            Link("Grants", "grant-list", ("grant-",)),
            Link("Policy", "bundle-list", ("bundle-", "decision-explain", "whatif-")),
            Link("Measurements", "measurement-lists", ("measurement-",)),
        ),
    ),
    Group(
        "Oversight",
        (
            Link("Reviews", "review-list", ("review-",)),
            Link("Incidents", "incident-list", ("incident-",)),
            Link("Exits", "exit-list", ("exit-", "certificate-detail", "key-")),
            Link("Usage", "usage", ("usage",)),
            Link("Timeliness", "timeliness", ("timeliness",)),
            Link("Trail", "audit:trail", ("audit:",)),
        ),
    ),
    Group(
        "Administration",
        (
            Link("People", "accounts:people", ("accounts:people", "accounts:person-", "accounts:factors-")),
            Link("Proposals", "proposals:proposal-list", ("proposals:",)),
            Link("Artefacts", "artefact-list", ("artefact-",)),
            Link("API tokens", "accounts:tokens", ("accounts:token",)),
        ),
    ),
)
PARTNER: tuple[Entry, ...] = (
    Link("Overview", "portal", ("portal", "home")),
    Link("Charters", "charters:charter-list", ("charters:",)),
    Link("Grants", "grant-list", ("grant-",)),
    Link("Decisions", "usage", ("usage",)),
    Link("Incidents", "portal-incidents", ("portal-incidents",)),
    Link("Exits", "exit-list", ("exit-", "certificate-detail")),
    Group(
        "Access keys",
        (
            Link("Principals", "portal-principals", ("portal-principal",)),
            Link("API tokens", "accounts:tokens", ("accounts:token",)),
            Link("Your trail", "portal-trail", ("portal-trail",)),
        ),
    ),
)


def _is(view: str, matches: tuple[str, ...]) -> bool:
    return any(view.startswith(match) if match.endswith(("-", ":")) else view == match for match in matches)


def _marked(entry: Entry, view: str, allowed: set[str]) -> Entry | None:
    if isinstance(entry, Link):
        if entry.url_name not in allowed:
            return None
        return Link(entry.label, entry.url_name, entry.matches, current=_is(view, entry.matches))
    links = tuple(link for link in (_marked(link, view, allowed) for link in entry.links) if isinstance(link, Link))
    return Group(entry.label, links) if links else None


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    # A page drawn before the second-factor middleware ran (an early error page) has no is_verified: no menu.
    verified = getattr(user, "is_verified", None)
    if user is None or not user.is_authenticated or user.is_service or verified is None or not verified():
        return {"navigation": ()}
    match = request.resolver_match
    view = f"{match.namespace}:{match.url_name}" if match and match.namespace else (match.url_name if match else "")
    menu = HOST if user.is_host_member else PARTNER
    allowed = {link.url_name for entry in menu for link in _links(entry) if may_open(user, link.url_name)}
    entries = (_marked(entry, view or "", allowed) for entry in menu)
    return {"navigation": tuple(entry for entry in entries if entry is not None)}


def _links(entry: Entry) -> tuple[Link, ...]:
    return (entry,) if isinstance(entry, Link) else entry.links
