"""Reading grants: what a partner admin may ask for."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from charters import documents
from charters.models import AssetVersion, Charter


def requestable_by(user: User) -> tuple[QuerySet[User], QuerySet[AssetVersion], list[str]]:
    """The principals, asset versions and purposes a partner admin may ask for: their active charters' terms."""
    principals = User.objects.filter(organisation_id=user.organisation_id, is_service=True, is_active=True)
    fingerprints: set[str] = set()
    purposes: set[str] = set()
    for charter in Charter.objects.select_related("active_version").filter(
        partner_id=user.organisation_id, status=Charter.Status.ACTIVE
    ):
        if charter.active_version is not None:
            fingerprints |= documents.shareable_fingerprints(charter.active_version.document)
            purposes |= {purpose["name"] for purpose in charter.active_version.document["purposes"]}
    versions = AssetVersion.objects.select_related("asset").filter(fingerprint__in=fingerprints)
    return principals, versions, sorted(purposes)
