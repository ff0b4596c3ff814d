"""What the anomaly checks did, read back: which finding a grant's suspension was for.

The decision point reads this to word its deny, so it imports nothing that opens incidents or sends mail."""

from __future__ import annotations

from audit.models import Event
from audit.trail import Actor
from governance.models import AnomalyFinding, Grant

CHECKER = Actor.system("anomaly-checks")  # the checks' name in the trail


def suspending_finding(grant_id: int) -> AnomalyFinding | None:
    """For a suspended grant: the finding these checks suspended it for, or None when someone else suspended it.

    The trail names who made the grant's latest suspension. When it was these checks, it was for the grant's latest
    finding: they check only active grants, so no later finding is made until someone resumes the grant, and a
    suspension after that is a new one with its own actor (an officer, or these checks with a new finding)."""
    latest = (
        Event.objects.filter(action="grant.suspended", target_type=Grant._meta.label_lower, target_id=str(grant_id))
        .order_by("-id")
        .values_list("actor_type", "actor_id")
        .first()
    )
    if latest != (CHECKER.type, CHECKER.id):
        return None
    return AnomalyFinding.objects.filter(grant_id=grant_id).order_by("-created_at", "-id").first()
