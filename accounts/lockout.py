"""Lockout after repeated failed logins (django-axes counts them), in Accord's words and in its trail.

Axes counts failures per account and per address apart (AXES_LOCKOUT_PARAMETERS); either reaching
ACCORD_LOGIN_FAILURE_LIMIT within ACCORD_LOGIN_LOCKOUT_MINUTES locks it for that long, even against the right
password. Here: the event when a lock begins, the wait a locked-out person is shown, the locks officers see, and
the unlock they may give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.operations import Operation, performs
from audit.models import Event
from audit.trail import Actor, event, record, record_standalone


@dataclass(frozen=True)
class Lock:
    """A locked account or address, as the officers' page lists it."""

    kind: str  # "account" | "address"
    value: str
    failures: int
    until: datetime


def _window_start() -> datetime:
    return timezone.now() - settings.AXES_COOLOFF_TIME


def locks() -> list[Lock]:
    """Accounts and addresses locked now, the one locked longest first."""
    attempts = AccessAttempt.objects.filter(attempt_time__gte=_window_start())
    found = []
    for kind, field in (("account", "username"), ("address", "ip_address")):
        rows = attempts.exclude(**{f"{field}__isnull": True}).values(field)
        for row in rows.annotate(failures=Sum("failures_since_start"), last=Max("attempt_time")):
            if row["failures"] >= settings.AXES_FAILURE_LIMIT:
                until = row["last"] + settings.AXES_COOLOFF_TIME
                found.append(Lock(kind, row[field], row["failures"], until))
    return sorted(found, key=lambda lock: lock.until)


def lockout_wait(*, username: str | None, address: str | None) -> int:
    """Seconds until neither the account nor the address is locked (0 when neither is)."""
    longest = 0
    now = timezone.now()
    for lock in locks():
        if (lock.kind == "account" and lock.value == username) or (lock.kind == "address" and lock.value == address):
            longest = max(longest, int((lock.until - now).total_seconds() + 0.999))
    return longest


@receiver(user_locked_out)
def lockout_record(sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **_: Any) -> None:
    """One event when a lock begins: axes says "locked out" on every refused try, and each of those is already
    recorded as a failed login."""
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    known = User.objects.select_related("organisation").filter(username=username or "").first()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    record_standalone(
        [
            event(
                action="auth.locked_out",
                actor=Actor.anonymous(label=(username or "")[:150] or "unknown"),
                partner=known.partner_slug if known is not None else "",
                target=known,
                outcome=Event.Outcome.FAILURE,
                reason=f"{settings.AXES_FAILURE_LIMIT} failed logins: locked for {minutes} minutes.",
                details={"username": (username or "")[:150], "address": ip_address or ""},
            )
        ]
    )


@performs(Operation.LOGIN_UNLOCK)
@transaction.atomic
def login_unlock(*, kind: str, value: str, by: Actor) -> int:
    """Lift the lock on an account (a username) or an address before its time; how many counters were cleared."""
    if kind not in {"account", "address"}:
        raise ValueError(f"kind is 'account' or 'address', not {kind!r}")
    if kind == "address":
        try:
            validate_ipv46_address(value)
        except ValidationError:
            raise ValidationError(
                {"value": f"{value!r} is not an IP address: give the locked address as listed."}
            ) from None
    matching = Q(username=value) if kind == "account" else Q(ip_address=value)
    if not AccessAttempt.objects.filter(matching).exists():
        return 0
    cleared = reset(username=value) if kind == "account" else reset(ip=value)
    known = User.objects.select_related("organisation").filter(username=value).first() if kind == "account" else None
    record(
        action="auth.unlocked",
        actor=by,
        partner=known.partner_slug if known is not None else "",
        target=known,
        details={kind: value},
    )
    return cleared
