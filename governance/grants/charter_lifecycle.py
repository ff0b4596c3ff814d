"""What happens to grants when their charter changes. Charters sit below governance and know nothing of grants,
so the orchestration lives here (no signals).

Suspension needs no grant change: every decision reads the charter's state, so a suspended charter denies all
its grants at once and resuming restores them. Termination is final, so it also revokes the grants.
"""

from __future__ import annotations

from django.db import transaction

from audit.trail import Actor
from charters.models import Charter
from charters.services.charters import charter_terminate
from governance.grants.services import grant_revoke
from governance.models import Grant

OPEN = (Grant.Status.REQUESTED, Grant.Status.ACTIVE, Grant.Status.SUSPENDED)


@transaction.atomic
def charter_terminate_with_grants(*, charter: Charter, by: Actor, reason: str) -> tuple[Charter, int]:
    """Terminate the charter and revoke each of its open grants (each with its own audit event)."""
    charter = charter_terminate(charter=charter, by=by, reason=reason)
    grants = list(
        Grant.objects.select_related("partner", "charter", "asset_version").filter(charter=charter, status__in=OPEN)
    )
    for grant in grants:
        grant_revoke(grant=grant, by=by, reason=f"Charter {charter.slug} terminated: {reason}")
    return charter, len(grants)
