"""Reading incidents: each step's timing against its deadline, the page's checklist, and step results in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from charters.vocabulary import AutomaticStep
from governance.models import Incident, IncidentStep

# A declared incident's automatic steps are queued at once; the scheduled run picks up any that a lost message
# left behind after this long.
STALLED = timedelta(minutes=1)


def _late(step: IncidentStep, at: datetime) -> bool:
    """Done (or still open) after the deadline, to the second, so the trail and the timings agree. An automatic
    step's deadline is met when the worker does it within STALLED of it: "at once" (0 hours) allows a worker's
    pick-up time, the same minute the escalation allows it."""
    allowed = STALLED if step.automatic else timedelta(0)
    return round((step.due_at + allowed - at).total_seconds()) < 0


@dataclass(frozen=True)
class StepTiming:
    position: int
    title: str
    owner_role: str
    due_at: datetime
    done_at: datetime | None
    late: bool
    margin_seconds: int  # positive: done (or still) ahead of the deadline; negative: late by that much


@dataclass(frozen=True)
class Timings:
    steps: list[StepTiming]
    on_time: int
    remediation_due_at: datetime
    notification_due_at: datetime | None

    @property
    def ready(self) -> bool:
        return all(not step.late and step.done_at is not None for step in self.steps)


def incident_timings(incident: Incident, *, now: datetime | None = None) -> Timings:
    """Each step against its deadline: done on time, done late, or still open (late once past due)."""
    now = now or timezone.now()
    rows = []
    notify_due = None
    for step in incident.steps.order_by("position"):
        finished = step.done_at if step.status == IncidentStep.Status.DONE else None
        closed = incident.closed_at if step.status == IncidentStep.Status.NOT_DONE else None
        reference = finished or closed or now
        margin = round((step.due_at - reference).total_seconds())
        late = _late(step, reference)
        rows.append(StepTiming(step.position, step.title, step.owner_role, step.due_at, finished, late, margin))
        if step.automatic == AutomaticStep.NOTIFY and notify_due is None:
            notify_due = step.due_at
    on_time = sum(1 for row in rows if row.done_at is not None and not row.late)
    return Timings(rows, on_time, incident.remediation_due_at, notify_due)


@dataclass(frozen=True)
class ChecklistLine:
    """One step as the incident's page shows it, judged late by the same rule as the timings and the trail."""

    step: IncidentStep
    timing: StepTiming
    result: str  # what an automatic step did (in a drill: would have done), in words; "" until it has run

    @property
    def done_late(self) -> bool:
        return self.timing.done_at is not None and self.timing.late


def incident_checklist(incident: Incident, timings: Timings) -> list[ChecklistLine]:
    """The incident's steps in order, each with its line of ``timings`` (so the page and its "steps on time"
    agree) and its result in words."""
    timing_of = {row.position: row for row in timings.steps}
    return [
        ChecklistLine(step, timing_of[step.position], step_result_in_words(step) if step.result else "")
        for step in incident.steps.order_by("position")
    ]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _grants(pks: list[int]) -> str:
    return f"{_count(len(pks), 'grant')}: {', '.join(f'#{pk}' for pk in pks)}"


def _moment(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _held_in_words(result: dict[str, Any]) -> str:
    if result.get("drill"):
        if not result["would_hold"]:
            return "Would hold no grant: the partner has no live grant."
        return f"Would hold {_grants(result['would_hold'])}; a drill holds nothing."
    if not result["held"]:
        return "Held no grant: the partner had no live grant to hold."
    return f"Held {_grants(result['held'])}."


def _preserved_in_words(result: dict[str, Any]) -> str:
    if result.get("drill"):
        return (
            f"Would preserve {_count(result['events'], 'event')} since "
            f"{_moment(result['would_preserve_events_since'])}; a drill makes no evidence bundle."
        )
    return (
        f"Preserved the partner's events since {_moment(result['since'])}, with the incident and its findings, "
        f"under legal hold in evidence bundle #{result['evidence_bundle']} (SHA-256 {result['content_hash'][:12]}…)."
    )


def _notified_in_words(result: dict[str, Any]) -> str:
    told = f"Notified {_count(len(result['told']), 'responder')} ({', '.join(result['told'])})"
    if result.get("drill"):
        if not result["partner_not_told"]:
            return f"{told}, marked as a drill."
        return f"{told}, marked as a drill; the partner ({_count(result['partner_not_told'], 'admin')}) was not told."
    partner = result["partner_told"]
    if not partner:
        return f"{told}; the partner has no admin to tell."
    return f"{told} and told {_count(len(partner), 'partner admin')} that their access is on hold."


RESULT_IN_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    AutomaticStep.SUSPEND_GRANTS: _held_in_words,
    AutomaticStep.PRESERVE_EVIDENCE: _preserved_in_words,
    AutomaticStep.NOTIFY: _notified_in_words,
}


def step_result_in_words(step: IncidentStep) -> str:
    """What an automatic step did (in a drill: would have done), in a sentence for people. The stored result stays
    the data the trail recorded; this is the one place that words it."""
    try:
        return RESULT_IN_WORDS[step.automatic](step.result)
    except (KeyError, TypeError, ValueError):
        # A result of another shape (written by an older version, say) is still shown rather than failing the page.
        return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in step.result.items())
