"""Reading the usage roll-up: who sees which counts, and the counts as a series over time. Never the event table."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import ExpressionWrapper, F, FloatField, QuerySet, Sum

from accounts.models import User
from governance.decisions import limits
from governance.models import Grant, UsageCount, UsageTotal
from governance.usage.services import Interval, interval_start

STEP = {Interval.MINUTE: timedelta(minutes=1), Interval.HOUR: timedelta(hours=1), Interval.DAY: timedelta(days=1)}
MAX_POINTS = 1_000  # a series longer than this asks for a larger interval


def usage_rows(user: User, *, partner: str = "", **kinds: object) -> QuerySet[Any]:
    """The rows a series is summed from, of the partners ``user`` may see: the partners' totals when nothing finer
    than a partner is asked (a month of every partner is then a few hundred rows), the counts by kind when one of
    ``kinds`` is (grant_id, principal, asset, action; an empty one is not asked)."""
    wanted = {name: value for name, value in kinds.items() if value not in (None, "")}
    rows: QuerySet[Any] = (UsageCount if wanted else UsageTotal).objects.all()
    # The host's staff see every partner's counts; a partner admin their own partner's; nobody else any.
    if not user.is_host_member:
        if user.is_service or user.organisation.is_host:
            return rows.none()
        rows = rows.filter(partner=user.organisation.slug)
    if partner:
        rows = rows.filter(partner=partner)
    return rows.filter(**wanted)


@dataclass
class Point:
    start: datetime
    allowed: int = 0
    denied: int = 0
    denied_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def deny_rate(self) -> float | None:
        total = self.allowed + self.denied
        return round(self.denied / total, 4) if total else None


def usage_series(rows: QuerySet[Any], *, interval: str, since: datetime, until: datetime) -> list[Point]:
    """One point per interval from ``since`` to ``until`` (empty intervals included, so a chart has no gaps)."""
    first, step = interval_start(since, interval), STEP[Interval(interval)]
    points: dict[datetime, Point] = {}
    moment = first
    while moment < until:
        points[moment] = Point(moment)
        moment += step
    summed = (
        rows.filter(interval=interval, start__gte=first, start__lt=until)
        .values("start", "allowed", "code")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for row in summed:
        point = points.get(row["start"])
        if point is None:
            continue
        if row["allowed"]:
            point.allowed += row["n"]
        else:
            point.denied += row["n"]
            point.denied_by_code[row["code"]] = point.denied_by_code.get(row["code"], 0) + row["n"]
    return list(points.values())


# --- Quota use against the limits -------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaUse:
    """A grant's use of its limits today and this month (UTC). ``exact``: read from the counters the decision point
    enforces; otherwise the roll-up's count of today's allows (a minute behind) and no month."""

    grant: Grant
    today: int
    month: int | None
    exact: bool

    @property
    def day_share(self) -> float:
        return round(self.today / self.grant.daily_quota, 4) if self.grant.daily_quota else 0.0

    @property
    def month_share(self) -> float | None:
        if self.month is None or not self.grant.monthly_quota:
            return None
        return round(self.month / self.grant.monthly_quota, 4)


def quotas_nearest_limits(user: User, *, now: datetime, partner: str = "", shown: int = 15) -> list[QuotaUse]:
    """The active grants that have used the largest share of their daily quota today, nearest first.

    The roll-up ranks them (today's day rows, one grouped query, however many grants there are); the counters give
    the numbers, in one round trip for the grants shown. When Redis does not answer, the roll-up's numbers stand."""
    today = usage_rows(user, partner=partner, grant_id__isnull=False).filter(
        interval=Interval.DAY,
        start=interval_start(now, Interval.DAY),
        allowed=True,
        grant__status=Grant.Status.ACTIVE,
        grant__daily_quota__gt=0,
    )
    share = ExpressionWrapper(F("n") * 1.0 / F("grant__daily_quota"), output_field=FloatField())
    # A few more than are shown: the counters may rank the last of them differently from the roll-up.
    ranked = today.values("grant_id", "grant__daily_quota").annotate(n=Sum("count")).annotate(share=share)
    counted = {row["grant_id"]: row["n"] for row in ranked.order_by("-share", "grant_id")[: shown + 5]}
    grants = list(
        Grant.objects.select_related("partner", "principal", "partner_role", "asset_version__asset").filter(
            pk__in=counted
        )
    )
    try:
        uses = [
            QuotaUse(grant, used.day, used.month, exact=True)
            for grant, used in zip(grants, limits.used_many(grants, now), strict=True)
        ]
    except limits.LimitsUnavailableError:
        uses = [QuotaUse(grant, counted[grant.pk], None, exact=False) for grant in grants]
    return sorted(uses, key=lambda use: (-use.day_share, use.grant.pk))[:shown]


# --- For the anomaly checks: counts over a window, from minute rows ------------------------------------------
#
# A minute row counts from ``since`` when it starts at or after it: the minute ``since`` falls in is left out, so
# use already acted on (a finding made mid-minute) is never counted twice; the cost is at most a minute's use at
# the window's start. Each count reads at most a window's minutes of one grant or principal: its cost grows with
# the active grants checked, never with the events recorded.


def allowed_count(grant_id: int, *, since: datetime, until: datetime) -> int:
    """How many decisions the grant allowed from ``since`` to ``until``."""
    rows = UsageCount.objects.filter(
        interval=Interval.MINUTE, grant_id=grant_id, allowed=True, start__gte=since, start__lt=until
    )
    return int(rows.aggregate(n=Sum("count"))["n"] or 0)


def denied_count(
    *,
    principals: Collection[str],
    asset: str,
    since: datetime,
    until: datetime,
    action: str | None = None,
    codes: Collection[str] = (),
) -> int:
    """How many times these principals were denied a use of the asset from ``since`` to ``until``; only for
    ``action`` when given, and only with one of ``codes`` when given."""
    rows = UsageCount.objects.filter(
        interval=Interval.MINUTE,
        principal__in=list(principals),
        asset=asset,
        allowed=False,
        start__gte=since,
        start__lt=until,
    )
    if action is not None:
        rows = rows.filter(action=action)
    if codes:
        rows = rows.filter(code__in=list(codes))
    return int(rows.aggregate(n=Sum("count"))["n"] or 0)


# The same counts for many grants at once, one grouped query per charter and rule: the checks ask each of these
# which grants could break a rule, and count exactly only for those.


def busy_grants(grant_ids: QuerySet[Any], *, since: datetime, until: datetime, floor: int) -> set[int]:
    """The grants among ``grant_ids`` (a query of ids) that allowed at least ``floor`` decisions from ``since`` to
    ``until``."""
    rows = (
        UsageCount.objects.filter(
            interval=Interval.MINUTE, grant_id__in=grant_ids, allowed=True, start__gte=since, start__lt=until
        )
        .values("grant_id")
        .annotate(n=Sum("count"))
        .filter(n__gte=floor)
        .order_by()
    )
    return {row["grant_id"] for row in rows}


def denies_by_asker(
    *,
    assets: QuerySet[Any],
    since: datetime,
    until: datetime,
    action: str | None = None,
    codes: Collection[str] = (),
) -> dict[tuple[str, str], int]:
    """Denies from ``since`` to ``until`` of the assets among ``assets`` (a query of fingerprints), by principal and
    asset; only for ``action`` when given, and only with one of ``codes`` when given."""
    rows = UsageCount.objects.filter(
        interval=Interval.MINUTE, asset__in=assets, allowed=False, start__gte=since, start__lt=until
    )
    if action is not None:
        rows = rows.filter(action=action)
    if codes:
        rows = rows.filter(code__in=list(codes))
    summed = rows.values("principal", "asset").annotate(n=Sum("count")).order_by()
    return {(row["principal"], row["asset"]): int(row["n"]) for row in summed}


def points_between(interval: str, since: datetime, until: datetime) -> int:
    return int((until - interval_start(since, interval)) / STEP[Interval(interval)]) + 1
