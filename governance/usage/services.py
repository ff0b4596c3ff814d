"""The usage roll-up, kept up by a beat task: the trail's decision events counted per minute, hour and day.

It reads sealed events in chain order (``chain_seq``), never by id: ids are handed out when a row is inserted and
commit order is not id order, so "ids above the last one read" would skip an event whose transaction committed
after a later one's. The sealer numbers events as they become visible, so everything up to a chain position stays
as it was once that position exists. Each batch counts its events and moves the cursor in one transaction that
holds the cursor's row locked: a run that dies counts nothing, and two runs at once (a redelivered task) count
each event once, the second waiting for the first.

Rows: allows, and denies by their one code, keyed by grant where the decision had one and by principal, asset and
action always (a deny made before a grant was found has none); and beside them, in the same transaction, each
partner's totals by code (UsageTotal), which the charts of whole partners read. Minute rows are kept for
KEEP[MINUTE], hour rows for KEEP[HOUR]; day rows for good.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from audit.models import DECISION_ACTIONS, Event
from governance.decisions.records import Counted
from governance.models import UsageCount, UsageRollupCursor, UsageTotal

Interval = UsageCount.Interval
BATCH = 10_000
MAX_BATCHES = 20  # a run ends after this many; the next one, a minute later, goes on from there
CURSOR = "decisions"
KEEP = {Interval.MINUTE: timedelta(days=2), Interval.HOUR: timedelta(days=92)}


def interval_start(moment: datetime, interval: str) -> datetime:
    moment = moment.astimezone(UTC)
    if interval == Interval.MINUTE:
        return moment.replace(second=0, microsecond=0)
    if interval == Interval.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class _Kind:
    """What one row counts (everything but the interval)."""

    partner: str
    grant_id: int | None
    principal: str
    principal_label: str
    asset: str
    action: str
    allowed: bool
    code: str

    @functools.cached_property
    def key(self) -> str:
        # The label is the principal's name when it asked: shown, not part of what is counted.
        fields = (self.partner, self.grant_id or "", self.principal, self.asset, self.action, self.allowed, self.code)
        return hashlib.sha256("|".join(map(str, fields)).encode()).hexdigest()

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> _Kind:
        counted = Counted.of(event["action"], event["details"])
        return cls(
            partner=event["partner"],
            grant_id=counted.grant_id,
            principal=event["actor_id"],
            principal_label=event["actor_label"],
            asset=counted.asset,
            action=counted.action,
            allowed=counted.allowed,
            code=counted.code,
        )


@dataclass(frozen=True)
class RollupResult:
    events: int
    chain_seq: int
    pruned: int


def usage_rollup(*, batch: int = BATCH, max_batches: int = MAX_BATCHES, now: datetime | None = None) -> RollupResult:
    """Count the decisions sealed since the last run, a batch at a time, then drop rows past their keeping."""
    counted = 0
    for _ in range(max_batches):
        events = _rollup_batch(batch)
        counted += events
        if events < batch:
            break
    pruned = _prune(now or timezone.now())
    position = UsageRollupCursor.objects.filter(name=CURSOR).values_list("chain_seq", flat=True).first() or 0
    return RollupResult(events=counted, chain_seq=position, pruned=pruned)


def _cursor() -> UsageRollupCursor:
    UsageRollupCursor.objects.get_or_create(name=CURSOR)  # the migration makes it; this is for a fresh test database
    return UsageRollupCursor.objects.select_for_update().get(name=CURSOR)


@transaction.atomic
def _rollup_batch(batch: int) -> int:
    cursor = _cursor()
    events = list(
        Event.objects.filter(chain_seq__gt=cursor.chain_seq, action__in=DECISION_ACTIONS)
        .order_by("chain_seq")
        .values("chain_seq", "occurred_at", "partner", "actor_id", "actor_label", "action", "details")[:batch]
    )
    if not events:
        return 0
    _add(_counted(events, timezone.now()))
    cursor.chain_seq = int(events[-1]["chain_seq"] or 0)  # sealed: never null here
    cursor.updated_at = timezone.now()
    cursor.save(update_fields=["chain_seq", "updated_at"])
    return len(events)


def _counted(events: Iterable[Mapping[str, Any]], now: datetime) -> dict[tuple[str, datetime, str], tuple[_Kind, int]]:
    """The batch's counts by interval, interval start and kind. An event too old for an interval's keeping (history
    counted on a first run) makes no row of that interval: it would only be pruned."""
    oldest = {interval: now - keep for interval, keep in KEEP.items()}
    counts: dict[tuple[str, datetime, str], tuple[_Kind, int]] = {}
    for event in events:
        kind = _Kind.of(event)
        for interval in Interval:
            if interval in oldest and event["occurred_at"] < oldest[interval]:
                continue
            at = (interval.value, interval_start(event["occurred_at"], interval), kind.key)
            counts[at] = (kind, counts[at][1] + 1 if at in counts else 1)
    return counts


_COLUMNS = (
    "interval", "start", "key", "partner", "grant_id", "principal", "principal_label", "asset", "action", "allowed",
    "code", "count",
)  # fmt: skip
_TOTAL_COLUMNS = ("interval", "start", "partner", "allowed", "code", "count")
_ROWS_PER_STATEMENT = 1_000


def _add(counts: dict[tuple[str, datetime, str], tuple[_Kind, int]]) -> None:
    """Add the batch's counts to the rows, and their sums to the partners' totals."""
    adapt = connection.ops.adapt_datetimefield_value
    rows = []
    totals: dict[tuple[str, datetime, str, bool, str], int] = {}
    for (interval, start, key), (kind, n) in counts.items():
        rows.append((interval, adapt(start), key, kind.partner, kind.grant_id, kind.principal, kind.principal_label,
                     kind.asset, kind.action, kind.allowed, kind.code, n))  # fmt: skip
        total = (interval, start, kind.partner, kind.allowed, kind.code)
        totals[total] = totals.get(total, 0) + n
    _upsert(UsageCount, _COLUMNS, ("interval", "start", "key"), rows)
    _upsert(
        UsageTotal,
        _TOTAL_COLUMNS,
        ("interval", "start", "partner", "allowed", "code"),
        [
            (interval, adapt(start), partner, allowed, code, n)
            for (interval, start, partner, allowed, code), n in totals.items()
        ],
    )


def _upsert(model: type[Model], columns: tuple[str, ...], unique: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """One INSERT ... ON CONFLICT DO UPDATE per thousand rows, which adds ``count`` to a row that is there and makes
    one that is not (only a run holding the cursor writes, so nothing races it)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    count = quote("count")
    # PostgreSQL names the row that is there by its table; SQLite by the bare column.
    there = f"{table}.{count}" if connection.vendor == "postgresql" else count
    conflict = f"ON CONFLICT ({', '.join(map(quote, unique))}) DO UPDATE SET {count} = {there} + EXCLUDED.{count}"
    names = ", ".join(map(quote, columns))
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            values = ", ".join([one] * len(chunk))
            cursor.execute(
                # The names are the model's own, quoted; every value is a parameter.
                f"INSERT INTO {table} ({names}) VALUES {values} {conflict}",  # noqa: S608
                [value for row in chunk for value in row],
            )


def _prune(now: datetime) -> int:
    pruned = 0
    for interval, keep in KEEP.items():
        pruned += UsageCount.objects.filter(interval=interval, start__lt=now - keep).delete()[0]
        UsageTotal.objects.filter(interval=interval, start__lt=now - keep).delete()
    return pruned
