"""Expiry, run by a worker every 30 seconds: grants past their window, and charters past theirs with their grants.

Each grant and each charter moves in its own transaction through the ordinary audited transition, whose
compare-and-swap on the status makes a second run (a redelivered task, a worker killed midway and run again)
change nothing that the first one changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.trail import Actor
from charters.models import Charter
from charters.services.charters import charter_expire
from governance.grants import services as grant_services
from governance.models import Grant

EXPIRY = Actor.system("expiry")
_RELATED = ("partner", "charter", "asset_version__asset", "principal", "partner_role__partner")


@dataclass
class ExpiryResult:
    charters: int = 0
    grants: int = 0
    refused: int = 0  # requests whose charter ended before anyone approved them


def expiry_run(*, now: datetime | None = None) -> ExpiryResult:
    """Expire what is due at ``now``: charters first (their grants go with them), then grants on their own."""
    now = now or timezone.now()
    result = ExpiryResult()
    due = Charter.objects.select_related("active_version", "partner").filter(
        status__in=(Charter.Status.ACTIVE, Charter.Status.SUSPENDED)
    )
    for charter in due:
        try:
            with transaction.atomic():
                expired = charter_expire(charter=charter, today=now.date(), by=EXPIRY)
                if expired is None:
                    continue
                reason = f"Charter {charter.slug} expired: {expired.status_reason}."
                live = Grant.objects.select_related(*_RELATED).filter(charter=charter, status__in=Grant.LIVE)
                expired_grants = [grant_services.grant_expire(grant=grant, by=EXPIRY, reason=reason) for grant in live]
                requested = Grant.objects.select_related(*_RELATED).filter(
                    charter=charter, status=Grant.Status.REQUESTED
                )
                refused = [grant_services.grant_refuse(grant=grant, by=EXPIRY, reason=reason) for grant in requested]
        except ValidationError:
            continue  # an officer moved one of its grants a moment ago: the next run does the charter whole
        result.charters += 1
        result.grants += len(expired_grants)
        result.refused += len(refused)
    for grant in Grant.objects.select_related(*_RELATED).filter(status__in=Grant.LIVE, valid_until__lte=now):
        try:
            with transaction.atomic():
                grant_services.grant_expire(grant=grant, by=EXPIRY, reason="Its window ended.")
        except ValidationError:
            continue  # another run, or an officer, moved it a moment ago
        result.grants += 1
    return result
