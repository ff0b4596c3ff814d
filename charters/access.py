"""Who may see and act on assets. Views ask here and nowhere else.

The host's officers and auditors see the whole registry; a partner's people see only what their partner owns.
(Assets shared with a partner under an active charter join that list when charters arrive.)
Assets a user may not see answer 404, so their existence is not given away.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.operations import Operation, may
from charters.models import Asset, AssetVersion, Charter, CharterVersion


def assets_visible_to(user: User) -> QuerySet[Asset]:
    assets = Asset.objects.select_related("owner")
    if user.is_host_member:
        return assets
    if user.organisation.is_host:
        # Host people without a host role see nothing: access is granted by a role, never assumed.
        return assets.none()
    return assets.filter(owner_id=user.organisation_id)


def asset_get_for_user(user: User, pk: int) -> Asset:
    versions = AssetVersion.objects.select_related("created_by").order_by("-created_at", "-id")
    asset = assets_visible_to(user).prefetch_related(Prefetch("versions", queryset=versions)).filter(pk=pk).first()
    if asset is None:
        raise Http404("No such asset.")
    return asset


def can_register_assets(user: User) -> bool:
    return may(user, Operation.ASSET_REGISTER)


def charters_visible_to(user: User) -> QuerySet[Charter]:
    charters = Charter.objects.select_related("partner", "active_version")
    if user.is_host_member:
        return charters
    if user.organisation.is_host:
        return charters.none()
    return charters.filter(partner_id=user.organisation_id)


def charter_get_for_user(user: User, slug: str) -> Charter:
    charter = charters_visible_to(user).filter(slug=slug).first()
    if charter is None:
        raise Http404("No such charter.")
    return charter


def charter_version_get_for_user(user: User, slug: str, number: int) -> CharterVersion:
    charter = charter_get_for_user(user, slug)
    version = (
        CharterVersion.objects.select_related("charter__partner", "exit_plan", "playbook", "author", "approved_by")
        .filter(charter=charter, number=number)
        .first()
    )
    if version is None:
        raise Http404(f"Charter {slug} has no version {number}.")
    return version


def sees_host_terms(user: User) -> bool:
    """Whether the charter's host-only terms (charters/documents.py) are shown to ``user``: the host's staff only.
    Everyone else reads the agreement, and its hash."""
    return user.is_host_member


def can_manage_charters(user: User) -> bool:
    return may(user, Operation.CHARTER_WRITE)


def can_acknowledge(user: User, charter: Charter) -> bool:
    """The table says who accepts charters; only the charter's own partner's admins accept it."""
    return may(user, Operation.CHARTER_ACCEPT) and user.organisation_id == charter.partner_id
