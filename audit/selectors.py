from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.models import Event


def event_list(
    *,
    partner: str = "",
    action: str = "",
    actor: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """Events newest first, narrowed by partner slug, action (or prefix ending in "."), actor name, outcome and
    time when given.

    Each filter is served by an index that ends in ``id`` (partner, action, actor) or by the time index, so a
    page costs the same on millions of events (tests/audit/test_trail_api.py checks the plans on PostgreSQL).
    """
    events = Event.objects.order_by("-id")
    if partner:
        events = events.filter(partner=partner)
    if action:
        # A whole action name is matched exactly, which its index serves in id order; "grant." asks for a prefix.
        events = events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
    if actor:
        events = events.filter(actor_label=actor)
    if outcome:
        events = events.filter(outcome=outcome)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events
