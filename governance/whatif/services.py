"""What-if: the decisions recorded over the last N days, asked again of the policy with a candidate change in it.

Two policies answer every recorded request: the policy as it stands, and the same policy with the candidate
applied (a charter version in review, as if approved and accepted by the partner; or a requested grant, as if
approved). A decision flips when the two answer it differently, so what the report shows is the candidate's effect
alone, not every change since the decision was made.

Requests repeat: the trail is read one id range at a time, grouped in the database by principal, partner and
request, so each distinct request is evaluated once per policy, and the progress display counts the ranges read.
Quota, rate limits and live sessions belong to the moment a request is made, so neither side consults them: a flip
is a change in what the policy permits.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accord.validation import is_whole_number
from accounts.operations import Operation, performs, person
from audit.dispatch import task_queue
from audit.trail import Actor
from charters.models import Charter, CharterVersion
from governance.decisions import records
from governance.decisions.services import DecisionRequest, evaluate
from governance.models import Grant, WhatIfRun
from governance.policy.bundle import CharterFact, GrantFact
from governance.policy.snapshot import Snapshot

ID_RANGE = 100_000  # event ids read per grouped query: one step of the progress display
EXAMPLES_PER_PARTNER = 5
ALLOW = "allow"

# (principal id, partner, action, asset, purpose)
Key = tuple[int, str, str, str, str]
Progress = Callable[[int, int], None]  # (events scanned, events in the window)


@dataclass(frozen=True)
class Candidate:
    """A change not yet in force, as the fact it would put into the policy."""

    kind: str  # "charter_version" or "grant"
    object_id: int
    label: str
    fact: CharterFact | GrantFact
    earliest: datetime | None = None  # a grant cannot allow anything before its window opens

    def apply(self, snapshot: Snapshot) -> None:
        with snapshot.lock, snapshot.index.batch():
            if isinstance(self.fact, CharterFact):
                snapshot.put_charter(self.fact)
            else:
                snapshot.put_grant(self.fact)


def candidate_version(version: CharterVersion) -> Candidate:
    """A charter version in review, as the policy would have it once approved and accepted by the partner."""
    if version.status != CharterVersion.Status.IN_REVIEW:
        raise ValidationError(
            {
                "version": f"Version {version.number} of {version.charter.slug} is {version.get_status_display()}; "
                "what-if replays a version in review (submit a draft first: its content no longer changes then)."
            }
        )
    charter = version.charter
    status = charter.status if charter.status in (Charter.Status.ACTIVE, Charter.Status.SUSPENDED) else "active"
    state = {"slug": charter.slug, "status": status, "active_version": version.pk, "accepted_version": version.pk}
    label = f"{charter.slug} v{version.number} (in review), as if approved and accepted"
    return Candidate("charter_version", version.pk, label, CharterFact.from_state(charter.pk, state))


def candidate_grant(grant: Grant) -> Candidate:
    """A requested grant, as the policy would have it once approved."""
    if grant.status != Grant.Status.REQUESTED:
        raise ValidationError(
            {"grant": f"Grant #{grant.pk} is {grant.get_status_display().lower()}; what-if replays a requested grant."}
        )
    fact = dataclasses.replace(GrantFact.of(grant), status=Grant.Status.ACTIVE)
    label = f"grant #{grant.pk} for {grant.grantee} (requested), as if approved"
    return Candidate("grant", grant.pk, label, fact, earliest=grant.valid_from)


@dataclass
class Example:
    decision_id: str
    occurred_at: str
    principal: str
    action: str
    asset: str
    purpose: str
    before: str
    after: str


@dataclass
class PartnerFlips:
    partner: str
    replayed: int = 0
    to_deny: int = 0
    to_allow: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def flipped(self) -> int:
        return self.to_deny + self.to_allow


@dataclass
class Report:
    candidate: str
    days: int
    since: str
    until: str
    evaluated_at: str
    replayed: int = 0
    distinct: int = 0
    partners: list[PartnerFlips] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def to_deny(self) -> int:
        return sum(partner.to_deny for partner in self.partners)

    @property
    def to_allow(self) -> int:
        return sum(partner.to_allow for partner in self.partners)

    @property
    def flipped(self) -> int:
        return self.to_deny + self.to_allow

    def as_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "flipped": self.flipped,
            "to_deny": self.to_deny,
            "to_allow": self.to_allow,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        partners = [
            PartnerFlips(
                partner=row["partner"],
                replayed=row["replayed"],
                to_deny=row["to_deny"],
                to_allow=row["to_allow"],
                examples=[Example(**example) for example in row["examples"]],
            )
            for row in data["partners"]
        ]
        names = ("candidate", "days", "since", "until", "evaluated_at", "replayed", "distinct", "elapsed_ms")
        return cls(**{name: data[name] for name in names}, partners=partners)


def window_check(days: int) -> None:
    """A replay window of 1 to ACCORD_WHATIF_MAX_DAYS days, or a message that says what to give."""
    most = settings.ACCORD_WHATIF_MAX_DAYS
    if not 1 <= days <= most:
        raise ValidationError(
            {"days": f"Replay between 1 and {most} days of decisions (asked: {days}); a longer window would read "
                     "more of the trail than a what-if should. Operators set the limit with ACCORD_WHATIF_MAX_DAYS."}
        )  # fmt: skip


def _requests(since: datetime, until: datetime, progress: Progress | None) -> dict[Key, list[int]]:
    """Every distinct request decided in the window, with [how many times, the newest event's id]."""
    found: dict[Key, list[int]] = {}
    span = records.trail_id_span(since, until)
    if span is None:
        return found
    low, high = span
    total = high - low + 1
    for start in range(low, high + 1, ID_RANGE):
        for asked in records.asked_tallies(since=since, until=until, ids=range(start, start + ID_RANGE)):
            if not (is_whole_number(asked.principal) and asked.action and asked.asset and asked.purpose):
                continue  # an invalid request: no policy answers it
            key = (int(asked.principal), asked.partner, asked.action, asked.asset, asked.purpose)
            seen = found.get(key)
            if seen is None:
                found[key] = [asked.times, asked.newest]
            else:
                seen[0] += asked.times
                seen[1] = max(seen[1], asked.newest)
        if progress is not None:
            progress(min(start + ID_RANGE, high + 1) - low, total)
    return found


def _answers(snapshot: Snapshot, keys: list[Key], at: datetime) -> list[str]:
    answers = []
    for principal, _, action, asset, purpose in keys:
        evaluation = evaluate(principal, DecisionRequest(action, asset, purpose), snapshot, at, check_session=False)
        answers.append(ALLOW if evaluation.grant is not None else evaluation.code or "no_grant")
    return answers


def whatif_replay(
    candidate: Candidate,
    *,
    days: int,
    now: datetime | None = None,
    progress: Progress | None = None,
    snapshot: Snapshot | None = None,
) -> Report:
    """Replay the last ``days`` of recorded decisions against the policy with ``candidate`` applied.

    ``snapshot`` is the policy as it stands (loaded here when not given); the candidate is applied to it, so it
    must be a private one, never a process's live snapshot.
    """
    window_check(days)
    started = time.perf_counter()
    now = now or timezone.now()
    since = now - timedelta(days=days)
    at = max(now, candidate.earliest) if candidate.earliest else now
    report = Report(candidate.label, days, since.isoformat(), now.isoformat(), at.isoformat())
    requests = _requests(since, now, progress)
    keys = sorted(requests)
    policy = snapshot or Snapshot.load()
    before = _answers(policy, keys, at)
    candidate.apply(policy)
    after = _answers(policy, keys, at)

    partners: dict[str, PartnerFlips] = {}
    flipped: dict[str, list[tuple[int, Key, str, str]]] = {}
    for key, old, new in zip(keys, before, after, strict=True):
        times = requests[key][0]
        row = partners.setdefault(key[1], PartnerFlips(key[1]))
        row.replayed += times
        if (old == ALLOW) == (new == ALLOW):
            continue
        if new == ALLOW:
            row.to_allow += times
        else:
            row.to_deny += times
        flipped.setdefault(key[1], []).append((times, key, old, new))
    report.replayed = sum(times for times, _ in requests.values())
    report.distinct = len(keys)
    report.partners = sorted(partners.values(), key=lambda row: (-row.flipped, row.partner))
    _add_examples(report.partners, flipped, requests)
    report.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


def _add_examples(
    partners: list[PartnerFlips], flipped: dict[str, list[tuple[int, Key, str, str]]], requests: dict[Key, list[int]]
) -> None:
    """The most frequent flipped requests of each partner, each shown by its newest recorded decision."""
    chosen = {
        partner: sorted(rows, key=lambda row: (-row[0], row[1]))[:EXAMPLES_PER_PARTNER]
        for partner, rows in flipped.items()
    }
    newest = records.decisions_by_event(requests[key][1] for rows in chosen.values() for _, key, _, _ in rows)
    for partner in partners:
        for _, key, old, new in chosen.get(partner.partner, []):
            decision = newest[requests[key][1]]
            partner.examples.append(
                Example(
                    decision_id=decision.decision_id,
                    occurred_at=decision.occurred_at.isoformat(),
                    principal=decision.principal_label,
                    action=key[2],
                    asset=key[3],
                    purpose=key[4],
                    before=old,
                    after=new,
                )
            )


# --- Runs: asked for in the web UI, carried out by a worker ------------------------------------------------


def _candidate_of(run: WhatIfRun) -> Candidate:
    if run.charter_version is not None:
        return candidate_version(run.charter_version)
    assert run.grant is not None  # noqa: S101 (a run names exactly one candidate: a constraint says so)
    return candidate_grant(run.grant)


@performs(Operation.WHATIF_RUN)
def whatif_request(
    *, by: Actor, days: int, version: CharterVersion | None = None, grant: Grant | None = None
) -> WhatIfRun:
    """Queue a replay for a worker, once the candidate and the window are known to be good."""
    from governance.tasks import whatif_run as whatif_run_task  # governance.tasks imports this module

    user = person(by)
    window_check(days)
    run = WhatIfRun(charter_version=version, grant=grant, days=days, requested_by=user)
    _candidate_of(run)  # says what is wrong with the candidate now, not in a worker later
    with transaction.atomic():
        run.save()
        task_queue(whatif_run_task, [run.pk])
    return run


def whatif_run(run_id: int) -> WhatIfRun:
    """Carry out a queued run. Safe to run again (a redelivered task): a finished run is left as it is, and an
    interrupted one starts over, since a replay changes nothing but its own row."""
    run = WhatIfRun.objects.select_related("charter_version__charter", "grant").get(pk=run_id)
    if run.status in (WhatIfRun.Status.DONE, WhatIfRun.Status.FAILED):
        return run
    WhatIfRun.objects.filter(pk=run.pk).update(status=WhatIfRun.Status.RUNNING, started_at=timezone.now())

    def progress(scanned: int, total: int) -> None:
        WhatIfRun.objects.filter(pk=run.pk).update(scanned=scanned, total=total)

    try:
        report = whatif_replay(_candidate_of(run), days=run.days, progress=progress)
    except ValidationError as error:
        # The candidate moved on while the run waited (approved, returned, withdrawn): say so on the run.
        WhatIfRun.objects.filter(pk=run.pk).update(
            status=WhatIfRun.Status.FAILED, error=" ".join(error.messages), finished_at=timezone.now()
        )
    else:
        WhatIfRun.objects.filter(pk=run.pk).update(
            status=WhatIfRun.Status.DONE, report=report.as_json(), finished_at=timezone.now()
        )
    run.refresh_from_db()
    return run
