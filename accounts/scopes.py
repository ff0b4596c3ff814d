"""What an API token may be used for: its scopes, designed once, and the ceiling each role puts on them.

A token carries one or more scopes, stored as OAuth 2 writes them (space-separated). An endpoint's entry in the
authorization matrix (accounts/matrix.py) names the scopes that let a token in (``manage`` when it names none), and
what the token's user may do there is still the operation table's answer: a scope narrows a token, it never widens
its owner. A token never exceeds its owner's role: it is issued only with scopes the role allows, and each request
counts only the scopes the owner's roles allow now, so a person who loses a role loses it on their tokens at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from accounts.operations import roles_of
from accounts.roles import Role

if TYPE_CHECKING:
    from accounts.models import User


class Scope(StrEnum):
    DECIDE = "decide"
    PEP = "pep"
    MANAGE = "manage"
    READ_AUDIT = "read_audit"
    EXIT = "exit"


MEANINGS: Mapping[Scope, str] = {
    Scope.DECIDE: "ask the decision point for this principal, and open its sessions",
    Scope.PEP: "as a partner's gateway, ask decisions for any principal of the same partner",
    Scope.MANAGE: "everything else the API offers the owner's role: charters, grants, roles, tokens, proposals",
    Scope.READ_AUDIT: "read and export the trail the owner may see",
    Scope.EXIT: "only what an exit still needs: read it, its report and certificates, and attest destruction",
}

# The ceiling: the scopes a token of each role may carry. Principals decide; people manage and read the trail.
CEILING: Mapping[Role, frozenset[Scope]] = {
    Role.OFFICER: frozenset({Scope.MANAGE, Scope.READ_AUDIT}),
    Role.AUDITOR: frozenset({Scope.MANAGE, Scope.READ_AUDIT}),
    Role.PARTNER_ADMIN: frozenset({Scope.MANAGE, Scope.READ_AUDIT, Scope.EXIT}),
    Role.PARTNER_PRINCIPAL: frozenset({Scope.DECIDE, Scope.PEP}),
}
# What a token gets when its issuer names no scope: the role's ceiling, but never a gateway's reach (``pep``) or
# the exit's narrowing, which are asked for by name.
NOT_BY_DEFAULT = frozenset({Scope.PEP, Scope.EXIT})


def ceiling_of(user: User) -> frozenset[Scope]:
    return frozenset().union(*(CEILING[role] for role in roles_of(user)))


def scopes_parse(text: str) -> frozenset[Scope]:
    """A stored scope string as scopes; unknown words (none are written) are ignored, never granted."""
    known = {scope.value for scope in Scope}
    return frozenset(Scope(word) for word in text.split() if word in known)


def scopes_text(scopes: Iterable[Scope | str]) -> str:
    return " ".join(sorted({str(scope) for scope in scopes}))


def scopes_for_issue(user: User, asked: Iterable[str] | None) -> frozenset[Scope]:
    """The scopes a new token of ``user`` carries: what was asked, if the role allows it all; the role's default
    when nothing was asked. ValidationError saying which scopes the role allows otherwise."""
    ceiling = ceiling_of(user)
    if not ceiling:
        raise ValidationError({"scopes": f"{user.username} has no role that may use the API."})
    if not asked:
        return (ceiling - NOT_BY_DEFAULT) or ceiling
    unknown = sorted(set(asked) - {scope.value for scope in Scope})
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope {', '.join(unknown)}: a scope is one of {scopes_text(Scope)}."}
        )
    wanted = frozenset(Scope(name) for name in asked)
    beyond = wanted - ceiling
    if beyond:
        raise ValidationError(
            {
                "scopes": f"A token of {user.username} cannot carry {scopes_text(beyond)}: their role allows "
                f"{scopes_text(ceiling)}."
            }
        )
    return wanted


def scopes_in_force(user: User, stored: str) -> frozenset[Scope]:
    """What a token may be used for now: its scopes, within what its owner's roles allow today."""
    return scopes_parse(stored) & ceiling_of(user)
