"""factory_boy factories with explicit relations. Personas live in conftest.py and go through the services."""

from __future__ import annotations

import hashlib

import factory

from accounts.models import Organisation
from charters.models import Asset, AssetVersion


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    kind = Organisation.Kind.PARTNER


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    name = factory.Sequence(lambda n: f"model-{n}")
    kind = Asset.Kind.MODEL
    owner = factory.SubFactory(PartnerFactory)


class AssetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssetVersion

    asset = factory.SubFactory(AssetFactory)
    label = factory.Sequence(lambda n: f"1.{n}")
    fingerprint = factory.Sequence(lambda n: hashlib.sha256(f"artefact-{n}".encode()).hexdigest())
    size_bytes = 1024
    classification = AssetVersion.Classification.SHAREABLE
    storage_uri = factory.LazyAttribute(lambda version: f"s3://tests/{version.asset.name}/{version.label}")
