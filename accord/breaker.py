"""A circuit breaker: after a dependency failed, callers fail at once for a while instead of each waiting out a
timeout, then one caller at a time tries again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Breaker:
    """Per process. Closed: calls go ahead. Open (after a failure): calls fail at once with ``error``. After
    ``retry_seconds`` one caller at a time may try again (its outcome closes or re-opens the breaker); the others
    still fail at once."""

    def __init__(self, name: str, *, retry_seconds: float, error: Callable[[str], Exception]) -> None:
        self.name = name
        self.retry_seconds = retry_seconds
        self._error = error
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._trial_until = 0.0
        self.reason = ""

    def is_open(self) -> bool:
        return self._opened_at is not None and time.monotonic() - self._opened_at < self.retry_seconds

    def retry_after(self) -> int:
        """Whole seconds until the next try, for a Retry-After header (at least 1)."""
        if self._opened_at is None:
            return max(1, round(self.retry_seconds))
        return max(1, round(self.retry_seconds - (time.monotonic() - self._opened_at)))

    def admit(self, trial_seconds: float) -> None:
        """Let a call go ahead, or raise the breaker's error while it is open or while another caller's trial
        (which may take ``trial_seconds``) is still under way."""
        with self._lock:
            if self._opened_at is None:
                return
            now = time.monotonic()
            if now - self._opened_at < self.retry_seconds or now < self._trial_until:
                raise self._error(self.message())
            # This caller tries; the others wait for its outcome (or for it to time out).
            self._trial_until = now + trial_seconds + 1

    def failed(self, reason: str) -> None:
        with self._lock:
            self._opened_at = time.monotonic()
            self._trial_until = 0.0
            self.reason = reason

    def succeeded(self) -> None:
        if self._opened_at is None:
            return
        with self._lock:
            self._opened_at = None
            self._trial_until = 0.0
            self.reason = ""

    def message(self) -> str:
        return (
            f"The {self.name} could not be reached ({self.reason}); Accord tries again within {self.retry_seconds:g} s."
        )
