"""Reading grants: what a partner admin may ask for."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from charters.models import AssetVersion, Charter
from charters.terms import terms_of


def requestable_by(user: User) -> tuple[QuerySet[User], QuerySet[AssetVersion], list[str]]:
    """The principals, asset versions and purposes a partner admin may ask for: their active charters' terms."""
    principals = User.objects.filter(organisation_id=user.organisation_id, is_service=True, is_active=True)
    fingerprints: set[str] = set()
    purposes: set[str] = set()
    for charter in Charter.objects.select_related("active_version").filter(
        partner_id=user.organisation_id, status=Charter.Status.ACTIVE
    ):
        if charter.active_version is not None:
            terms = terms_of(charter.active_version)
            fingerprints |= terms.shareable_fingerprints
            purposes |= set(terms.purposes)
    versions = AssetVersion.objects.select_related("asset").filter(fingerprint__in=fingerprints)
    return principals, versions, sorted(purposes)
