"""Reading the vault: what it stores."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models.vault import Artefact


def artefacts_stored() -> QuerySet[Artefact]:
    """Every stored artefact, with its key, its certificate once destroyed, and what it is of or for."""
    return Artefact.objects.select_related("data_key__certificate", "asset_version__asset", "partner")
