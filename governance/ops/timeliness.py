"""Whether the collaboration's clocks were kept: access-review items answered by their review's deadline, and
incident steps done by their due time, month by month.

Each is one grouped query (a month and a state per row), so the charts cost the same for ten items as for a
million. A month is the month the deadline fell in: an item due in March and answered in April is March's, late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Case, CharField, Count, F, QuerySet, Value, When
from django.db.models.functions import TruncMonth

from governance.models import IncidentStep, ReviewItem

# The states in the order the charts stack them, with the words the page uses.
STATES = {
    "on_time": "On time",
    "late": "Late",
    "missed": "Missed",
    "overdue": "Overdue now",
    "not_due": "Not due yet",
}
REVIEW_STATES = {**STATES, "missed": "Unanswered at the deadline"}
STEP_STATES = {**STATES, "missed": "Not done when the incident closed"}


@dataclass
class Month:
    start: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def due(self) -> int:
        """The items whose deadline has passed: what "on time" is a share of."""
        return sum(n for state, n in self.counts.items() if state != "not_due")

    @property
    def on_time_share(self) -> float | None:
        return round(self.counts.get("on_time", 0) / self.due, 4) if self.due else None


def months_back(now: datetime, months: int) -> list[datetime]:
    """The first instants (UTC) of the last ``months`` months, this one included, oldest first."""
    year, month = now.astimezone(UTC).year, now.astimezone(UTC).month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _by_month(rows: QuerySet[Any], deadline: str, state: Case, starts: list[datetime]) -> list[Month]:
    months = {start: Month(start) for start in starts}
    counted = (
        rows.filter(**{f"{deadline}__gte": starts[0]})
        .annotate(month=TruncMonth(deadline, tzinfo=UTC), state=state)
        .values("month", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in counted:
        month = months.get(row["month"])
        if month is not None:
            month.counts[row["state"]] = row["n"]
    return list(months.values())


def review_timeliness(*, now: datetime, months: int, partner: str = "") -> list[Month]:
    """Review items by the month of their review's deadline: answered by it, answered after it (an escalated item
    answered later), left unanswered when the review closed, unanswered past it in a review still open, not due."""
    deadline = F("campaign__deadline")
    state = Case(
        When(decided_at__isnull=False, decided_at__lte=deadline, then=Value("on_time")),
        When(decided_at__isnull=False, then=Value("late")),
        When(campaign__status="closed", then=Value("missed")),
        When(campaign__deadline__lt=now, then=Value("overdue")),
        default=Value("not_due"),
        output_field=CharField(),
    )
    items = ReviewItem.objects.all()
    if partner:
        items = items.filter(campaign__charter__partner__slug=partner)
    return _by_month(items, "campaign__deadline", state, months_back(now, months))


def step_timeliness(*, now: datetime, months: int, partner: str = "", drills: bool = False) -> list[Month]:
    """Incident steps by the month they were due: done by then, done after, not done when the incident closed,
    pending past due, not due. Drills are left out unless asked for (their clocks are evidence of readiness)."""
    state = Case(
        When(status=IncidentStep.Status.DONE, done_at__lte=F("due_at"), then=Value("on_time")),
        When(status=IncidentStep.Status.DONE, then=Value("late")),
        When(status=IncidentStep.Status.NOT_DONE, then=Value("missed")),
        When(due_at__lt=now, then=Value("overdue")),
        default=Value("not_due"),
        output_field=CharField(),
    )
    steps = IncidentStep.objects.all() if drills else IncidentStep.objects.filter(incident__drill=False)
    if partner:
        steps = steps.filter(incident__partner__slug=partner)
    return _by_month(steps, "due_at", state, months_back(now, months))
