"""Quotas (per day, per month) and the rate limit (per minute) of a grant, checked and counted atomically.

With Redis: one Lua script, one round trip, so concurrent decisions across every process never overshoot.
Without Redis (the embedded mode): a counter table, serialised by the database's write lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import redis
from django.conf import settings
from django.db import transaction

from accord.breaker import Breaker
from governance.models import UsageCounter

# Checks every window first and counts only when all have room: a refused call uses up nothing.
_CONSUME = """
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 3 do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= limits[i] then return i end
end
for i = 1, 3 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3 + i]))
end
return 0
"""
# What each refusal means, in the order of the keys.
OUTCOMES = {0: None, 1: "rate_limited", 2: "quota_exhausted", 3: "quota_exhausted"}


class Limited(Protocol):
    """What counting needs of a grant (a Grant row or a snapshot's GrantFact)."""

    @property
    def pk(self) -> int: ...
    @property
    def rate_per_minute(self) -> int: ...
    @property
    def daily_quota(self) -> int: ...
    @property
    def monthly_quota(self) -> int: ...


class LimitsUnavailableError(Exception):
    """The counters could not be reached: the decision fails closed."""


T = TypeVar("T")


TIMEOUT_SECONDS = 0.5


@functools.cache
def _breaker(url: str) -> Breaker:
    # After Redis failed to answer, decisions deny at once for a moment instead of each waiting out the timeout.
    return Breaker("Redis", retry_seconds=2, error=LimitsUnavailableError)


def _counted(call: Callable[[], T]) -> T:
    """``call`` (one round trip to Redis) behind the breaker; LimitsUnavailableError when Redis does not answer."""
    breaker = _breaker(settings.REDIS_URL)
    breaker.admit(TIMEOUT_SECONDS)
    try:
        result = call()
    except redis.RedisError as error:
        breaker.failed(f"{error.__class__.__name__}: {error}")
        raise LimitsUnavailableError(f"Redis did not answer: {error}") from error
    breaker.succeeded()
    return result


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a decision waits on this, and an unreachable Redis must become a deny quickly.
    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)


def redis_call(call: Callable[[redis.Redis], T]) -> T:
    """One round trip with the decision point's Redis client (short timeouts) behind the same breaker, for the
    decision point's other state in Redis (attestation nonces); LimitsUnavailableError when Redis does not answer."""
    return _counted(lambda: call(_client(settings.REDIS_URL)))


@functools.cache
def _script(url: str) -> redis.commands.core.Script:
    return _client(url).register_script(_CONSUME)


def _windows(grant: Limited, now: datetime) -> list[tuple[str, int, int]]:
    """(key, limit, seconds to keep) for the minute, the day and the month that ``now`` falls in."""
    month_end = (now.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage = f"{settings.ACCORD_REDIS_PREFIX}usage:{grant.pk}"
    return [
        (f"{usage}:m:{now:%Y%m%d%H%M}", grant.rate_per_minute, 120),
        (f"{usage}:d:{now:%Y%m%d}", grant.daily_quota, 2 * 86400),
        (f"{usage}:M:{now:%Y%m}", grant.monthly_quota, int((month_end - now).total_seconds()) + 86400),
    ]


def _script_input(windows: list[tuple[str, int, int]]) -> tuple[list[str], list[int]]:
    """The Lua script's keys and arguments: the three counters, their limits, then how long to keep each."""
    return [key for key, _, _ in windows], [limit for _, limit, _ in windows] + [ttl for _, _, ttl in windows]


def consume(grant: Limited, now: datetime) -> str | None:
    """Count one use of the grant; the deny code when a limit is reached (nothing is counted then)."""
    windows = _windows(grant, now)
    if settings.REDIS_URL:
        keys, args = _script_input(windows)
        outcome = _counted(lambda: _script(settings.REDIS_URL)(keys=keys, args=args))
        return OUTCOMES[int(outcome)]
    return _consume_in_database(windows, now)


def consume_many(grants: Sequence[Limited], now: datetime) -> list[str | None]:
    """consume() for each grant in order, in one round trip to Redis (a batch of decisions)."""
    if not grants:
        return []
    if not settings.REDIS_URL:
        return [_consume_in_database(_windows(grant, now), now) for grant in grants]
    if len(grants) == 1:
        return [consume(grants[0], now)]  # one EVALSHA; a pipeline would first ask whether the script is loaded
    script = _script(settings.REDIS_URL)
    pipeline = _client(settings.REDIS_URL).pipeline(transaction=False)
    for grant in grants:
        keys, args = _script_input(_windows(grant, now))
        script(keys=keys, args=args, client=pipeline)
    outcomes = _counted(pipeline.execute)
    return [OUTCOMES[int(outcome)] for outcome in outcomes]


def _consume_in_database(windows: list[tuple[str, int, int]], now: datetime) -> str | None:
    with transaction.atomic():
        counters = []
        for index, (key, limit, ttl) in enumerate(windows, start=1):
            counter, _ = UsageCounter.objects.select_for_update().get_or_create(
                key=key, defaults={"expires_at": now + timedelta(seconds=ttl)}
            )
            if counter.count >= limit:
                return OUTCOMES[index]
            counters.append(counter)
        for counter in counters:
            UsageCounter.objects.filter(pk=counter.pk).update(count=counter.count + 1)
    return None


@dataclass(frozen=True)
class Used:
    """How much of each limit a grant used in the minute, the day and the month that ``now`` falls in."""

    minute: int
    day: int
    month: int


def used_many(grants: Sequence[Limited], now: datetime) -> list[Used]:
    """The counters ``consume`` keeps, read for each grant (one round trip to Redis); nothing is counted."""
    keys = [key for grant in grants for key, _, _ in _windows(grant, now)]
    if not keys:
        return []
    if settings.REDIS_URL:
        counts = [int(value or 0) for value in _counted(lambda: _client(settings.REDIS_URL).mget(keys))]
    else:
        stored = dict(UsageCounter.objects.filter(key__in=keys, expires_at__gt=now).values_list("key", "count"))
        counts = [stored.get(key, 0) for key in keys]
    return [Used(*counts[index : index + 3]) for index in range(0, len(counts), 3)]
