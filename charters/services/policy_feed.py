"""The policy feed: what changed, in commit order, and a notice to every process once it has committed.

A change is appended in the same transaction as the change itself, so the feed never names something that was
rolled back and never misses something that committed. The notice (Redis pub/sub, when there is Redis) only says
"the feed is at N now"; a process that misses it still catches up, because every decision compares its version
with the feed's head first.
"""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F

from audit.trail import Actor
from charters.models import PolicyChange, PolicyHead

logger = logging.getLogger(__name__)

Kind = PolicyChange.Kind


def channel() -> str:
    """The install's policy channel: pub/sub is shared by every database of a Redis, so it carries the name."""
    return f"{settings.ACCORD_REDIS_PREFIX}policy"


@dataclass(frozen=True)
class Head:
    seq: int
    token: str


def policy_changed(kind: str, object_id: int, *, state: dict[str, Any], by: Actor) -> int:
    """Append a change of ``kind`` to the object with this id; the caller's transaction carries it.

    ``state`` is what the object says to decisions after the change (plain JSON), so that a process replaying the
    feed reaches exactly the policy each change made, even when it reads the change long after."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("policy_changed() must run inside the transaction that makes the change.")
    token = secrets.token_hex(8)
    # The UPDATE takes the head row's lock until commit: the next change waits, so numbers follow commit order.
    if not PolicyHead.objects.filter(pk=1).update(seq=F("seq") + 1, token=token):
        PolicyHead.objects.create(pk=1, seq=1, token=token)
    seq = PolicyHead.objects.values_list("seq", flat=True).get(pk=1)
    PolicyChange.objects.create(seq=seq, token=token, kind=kind, object_id=object_id, state=state, actor=by.label)
    transaction.on_commit(functools.partial(_announce, seq))
    return seq


def policy_head() -> Head:
    row = PolicyHead.objects.filter(pk=1).values_list("seq", "token").first()
    return Head(*row) if row else Head(0, "")


def policy_changes_from(seq: int) -> list[PolicyChange]:
    """The changes from ``seq`` on, in order: ``seq`` itself first (when it is still there) so that the caller can
    check its token, then every change after it."""
    return list(PolicyChange.objects.filter(seq__gte=seq).order_by("seq"))


@functools.cache
def _publisher(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _announce(seq: int) -> None:
    if not settings.REDIS_URL:
        return  # embedded mode: processes poll the head instead
    try:
        _publisher(settings.REDIS_URL).publish(channel(), str(seq))
    except redis.RedisError as error:
        # The change has committed; every process still sees it at its next decision's version check.
        logger.warning("Could not announce policy change %s: %s", seq, error)
