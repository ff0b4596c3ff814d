"""Writes for the asset registry. Each runs in a transaction, validates, and records its event."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from accounts.models import Organisation
from accounts.operations import Operation, performs, person_or_none
from audit.trail import Actor, record
from charters.models import Asset, AssetVersion


def _partner_of(organisation: Organisation) -> str:
    return "" if organisation.is_host else organisation.slug


def _insert(instance: models.Model, *, conflict: dict[str, str]) -> None:
    """Insert a row that full_clean() accepted; losing a unique constraint to a concurrent insert is a
    ValidationError like any other duplicate, not a server error."""
    try:
        with transaction.atomic():  # a savepoint, so the caller's transaction stays usable
            instance.save()
    except IntegrityError:
        raise ValidationError(conflict) from None


@performs(Operation.ASSET_REGISTER)
@transaction.atomic
def asset_register(*, name: str, kind: str, owner: Organisation, by: Actor, description: str = "") -> Asset:
    created_by = person_or_none(by)
    asset = Asset(name=name.strip(), kind=kind, owner=owner, description=description, created_by=created_by)
    if Asset.objects.filter(owner=owner, name=asset.name).exists():
        raise ValidationError({"name": f"{owner.name} already has an asset called {asset.name!r}."})
    asset.full_clean()
    _insert(asset, conflict={"name": f"{owner.name} already has an asset called {asset.name!r}."})
    record(
        action="asset.registered",
        actor=by,
        partner=_partner_of(owner),
        target=asset,
        details={"name": asset.name, "kind": kind, "owner": owner.slug},
    )
    return asset


@performs(Operation.ASSET_REGISTER)
@transaction.atomic
def asset_version_register(
    *,
    asset: Asset,
    label: str,
    fingerprint: str,
    size_bytes: int,
    classification: str,
    storage_uri: str,
    by: Actor,
) -> AssetVersion:
    created_by = person_or_none(by)
    version = AssetVersion(
        asset=asset,
        label=label.strip(),
        # sha256sum prints lowercase, but people paste from tools that do not: the hash is the same.
        fingerprint=fingerprint.strip().lower(),
        size_bytes=size_bytes,
        classification=classification,
        storage_uri=storage_uri.strip(),
        created_by=created_by,
    )
    if AssetVersion.objects.filter(asset=asset, label=version.label).exists():
        raise ValidationError({"label": f"{asset.name} already has a version labelled {version.label!r}."})
    version.full_clean()
    _insert(version, conflict={"fingerprint": "Another asset version already has this fingerprint or label."})
    record(
        action="asset_version.registered",
        actor=by,
        partner=_partner_of(asset.owner),
        target=version,
        details={
            "asset": asset.name,
            "label": version.label,
            "fingerprint": version.fingerprint,
            "classification": classification,
            "size_bytes": size_bytes,
        },
    )
    return version
