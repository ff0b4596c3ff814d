from __future__ import annotations

from django.db.models import QuerySet

from audit.models import Event


def event_list(*, partner: str = "", action: str = "", actor: str = "") -> QuerySet[Event]:
    """Events newest first, narrowed by partner slug, action prefix and actor name when given."""
    events = Event.objects.order_by("-id")
    if partner:
        events = events.filter(partner=partner)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label=actor)
    return events
