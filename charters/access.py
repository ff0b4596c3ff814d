"""Who may see and act on assets. Views ask here and nowhere else.

The host's officers and auditors see the whole registry; a partner's people see only what their partner owns.
(Assets shared with a partner under an active charter join that list when charters arrive.)
Assets a user may not see answer 404, so their existence is not given away.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from accounts.models import User
from charters.models import Asset, AssetVersion


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
    return user.is_officer and user.has_perm("charters.add_asset")
