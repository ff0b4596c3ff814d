"""Who may see and act on grants. Views ask here and nowhere else."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Partner, User
from governance.models import Grant


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
