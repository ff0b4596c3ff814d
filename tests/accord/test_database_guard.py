"""The pieces of the bounded database waits that need no failing server (tests/e2e/test_dependency_faults.py
runs them against ones): the breaker's states, and the statement timeout a serving process asks for."""

import pytest
from django.db import connection

from accord.breaker import Breaker
from accord.postgres import guard


class Refused(Exception):
    pass


def test_an_open_breaker_fails_at_once_then_lets_one_caller_try_and_closes_on_its_success(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("accord.breaker.time.monotonic", lambda: now[0])
    breaker = Breaker("database", retry_seconds=5, error=Refused)
    breaker.admit(3)  # closed: anyone goes ahead
    breaker.failed("Connection refused")
    with pytest.raises(Refused, match=r"The database could not be reached \(Connection refused\); .* within 5 s"):
        breaker.admit(3)
    assert breaker.retry_after() == 5

    now[0] += 5
    breaker.admit(3)  # the one trial
    with pytest.raises(Refused):
        breaker.admit(3)  # everyone else, while the trial may still be connecting
    breaker.succeeded()
    breaker.admit(3)
    assert not breaker.is_open()


@pytest.mark.postgres
def test_a_serving_process_asks_the_server_to_cancel_what_it_would_stop_waiting_for(monkeypatch):
    # (An in-process worker of an earlier test may have installed the guard here: set both states explicitly.)
    monkeypatch.setattr(guard._settings, "installed", False)
    assert "statement_timeout" not in connection.get_connection_params().get("options", "")  # a command
    monkeypatch.setattr(guard._settings, "installed", True)
    monkeypatch.setattr(guard._settings, "default_deadline", 10)
    assert "-c statement_timeout=10000" in connection.get_connection_params()["options"]
