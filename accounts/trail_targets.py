"""How the trail names this app's records (audit.presentation, which finds this module): each kind's ids of a page
named in one query, from what the reader may see, linked to the page that shows the record."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q
from django.urls import reverse

from accounts import access
from accounts.models import Organisation, Proposal, User
from audit.presentation import Namer, Target, pks, target_register


def users(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    """People and principals by username: the host's staff see everyone, a partner's people their own partner's.
    Officers' People page lists the people (not the principals)."""
    found = User.objects.only("username", "is_service", "organisation_id")
    if not viewer.is_host_member:
        found = found.filter(Q(organisation_id=viewer.organisation_id))
    people = reverse("accounts:people") if viewer.is_officer else ""
    return {
        str(pk): Target(user.username, f"{people}#person-{user.username}" if people and not user.is_service else "")
        for pk, user in found.in_bulk(pks(ids)).items()
    }


def organisations(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = Organisation.objects.only("name")
    if not viewer.is_host_member:
        found = found.filter(pk=viewer.organisation_id)
    return {str(pk): Target(organisation.name) for pk, organisation in found.in_bulk(pks(ids)).items()}


def tokens(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    """Tokens by prefix and name; linked to the token page when it lists them (the ones ``viewer`` manages)."""
    found = access.tokens_visible_to(viewer).select_related(None).only("prefix", "name").in_bulk(pks(ids))
    return {
        str(pk): Target(f"token {token.prefix}… ({token.name})", reverse("accounts:tokens"))
        for pk, token in found.items()
    }


def proposals(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = Proposal.objects.only("kind", "target_label").in_bulk(pks(ids))
    return {
        str(pk): Target(
            f"proposal: {proposal.get_kind_display()}: {proposal.target_label}",
            reverse("proposals:proposal-detail", args=[pk]),
        )
        for pk, proposal in found.items()
    }


TARGETS: dict[str, Namer] = {
    "accounts.user": users,
    "accounts.organisation": organisations,
    "accounts.partner": organisations,
    "accounts.apitoken": tokens,
    "accounts.proposal": proposals,
}
for kind, namer in TARGETS.items():
    target_register(kind, namer)
