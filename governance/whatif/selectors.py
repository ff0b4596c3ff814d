"""Reading what-if runs."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models import WhatIfRun


def whatif_runs(*, version_id: int | None = None) -> QuerySet[WhatIfRun]:
    """The runs, newest first, with what their pages show of each (of one charter version's, with ``version_id``)."""
    runs = WhatIfRun.objects.select_related("charter_version__charter", "grant", "requested_by")
    return runs.filter(charter_version_id=version_id) if version_id is not None else runs
