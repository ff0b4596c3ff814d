"""An officer's steps on a grant by name, for the page and the API alike: each is its own service (and operation)."""

from __future__ import annotations

from audit.trail import Actor
from governance.grants import services
from governance.models import Grant

TRANSITIONS = ("approve", "refuse", "suspend", "resume", "revoke")


def grant_step(*, grant: Grant, step: str, by: Actor, reason: str) -> Grant:
    """Take ``step`` (one of TRANSITIONS) on ``grant``; the service it names checks who may and says why not."""
    steps = {
        "approve": lambda: services.grant_approve(grant=grant, by=by),
        "refuse": lambda: services.grant_refuse(grant=grant, by=by, reason=reason),
        "suspend": lambda: services.grant_suspend(grant=grant, by=by, reason=reason),
        "resume": lambda: services.grant_resume(grant=grant, by=by, reason=reason),
        "revoke": lambda: services.grant_revoke(grant=grant, by=by, reason=reason),
    }
    return steps[step]()
