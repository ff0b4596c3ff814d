"""Who may see and act on grants. Views ask here and nowhere else."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Partner, User
from governance.models import Grant, PartnerRole


def partner_of(user: User) -> Partner:
    return Partner.objects.get(pk=user.organisation_id)


def grants_visible_to(user: User) -> QuerySet[Grant]:
    grants = Grant.objects.select_related(
        "principal", "partner_role", "charter", "charter_version", "asset_version__asset", "partner", "requested_by"
    )
    if user.is_host_member:
        return grants
    if user.organisation.is_host or user.is_service:
        return grants.none()
    return grants.filter(partner_id=user.organisation_id)


def grant_get_for_user(user: User, pk: int) -> Grant:
    grant = grants_visible_to(user).filter(pk=pk).first()
    if grant is None:
        raise Http404("No such grant.")
    return grant


def can_decide_grants(user: User) -> bool:
    return user.is_officer


def roles_visible_to(user: User) -> QuerySet[PartnerRole]:
    roles = PartnerRole.objects.select_related("partner").prefetch_related("members")
    if user.is_host_member:
        return roles
    if user.organisation.is_host or user.is_service:
        return roles.none()
    return roles.filter(partner_id=user.organisation_id)


def role_get_for_admin(user: User, slug: str) -> PartnerRole:
    """A role of the user's own partner, which only that partner's admins manage."""
    role = PartnerRole.objects.select_related("partner").filter(partner_id=user.organisation_id, slug=slug).first()
    if role is None or user.is_service or user.organisation.is_host:
        raise Http404("No such partner role.")
    return role


def can_see_bundles(user: User) -> bool:
    """Bundles hold every partner's lines: the host's officers and auditors only."""
    return user.is_host_member
