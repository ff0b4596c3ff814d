"""How the trail names this app's records (audit.presentation, which finds this module): each kind's ids of a page
named in one query, from what the reader may see, linked to the page that shows the record; and the asset versions
the details name by fingerprint (``asset``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from accounts.models import User
from audit.presentation import Namer, Target, detail_register, pks, target_register
from charters import access
from charters.models import AssetVersion, CharterVersion, IncidentPlaybook


def charters(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.charters_visible_to(viewer).select_related(None).only("slug").in_bulk(pks(ids))
    return {
        str(pk): Target(f"charter {charter.slug}", reverse("charters:charter-detail", args=[charter.slug]))
        for pk, charter in found.items()
    }


def charter_versions(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    visible = access.charters_visible_to(viewer).values("pk")
    found = CharterVersion.objects.select_related("charter").only("number", "charter__slug")
    return {
        str(pk): Target(
            f"{version.charter.slug} v{version.number}",
            reverse("charters:version-detail", args=[version.charter.slug, version.number]),
        )
        for pk, version in found.filter(charter__in=visible).in_bulk(pks(ids)).items()
    }


def assets(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.assets_visible_to(viewer).select_related(None).only("name").in_bulk(pks(ids))
    return {
        str(pk): Target(f"asset {asset.name}", reverse("charters:asset-detail", args=[pk]))
        for pk, asset in found.items()
    }


def asset_versions(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    visible = access.assets_visible_to(viewer).values("pk")
    found = AssetVersion.objects.select_related("asset").only("label", "asset__name").filter(asset__in=visible)
    return {
        str(pk): Target(f"asset version {version}", reverse("charters:asset-detail", args=[version.asset_id]))
        for pk, version in found.in_bulk(pks(ids)).items()
    }


def fingerprints(viewer: User, values: Sequence[str]) -> dict[str, Target]:
    visible = access.assets_visible_to(viewer).values("pk")
    found = AssetVersion.objects.select_related("asset").only("label", "fingerprint", "asset__name")
    return {
        version.fingerprint: Target(str(version), reverse("charters:asset-detail", args=[version.asset_id]))
        for version in found.filter(asset__in=visible, fingerprint__in=values)
    }


def playbooks(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = IncidentPlaybook.objects.only("slug", "title").in_bulk(pks(ids))
    return {str(pk): Target(f"playbook {playbook.slug} ({playbook.title})") for pk, playbook in found.items()}


TARGETS: dict[str, Namer] = {
    "charters.charter": charters,
    "charters.charterversion": charter_versions,
    "charters.asset": assets,
    "charters.assetversion": asset_versions,
    "charters.incidentplaybook": playbooks,
}
for kind, namer in TARGETS.items():
    target_register(kind, namer)

detail_register("asset", fingerprints)
