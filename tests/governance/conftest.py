"""Decision tests here work on the live collaboration of tests/world.py, with Redis's usage counters fresh."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_usage_counters(fresh_usage_counters):
    """Every test here starts with no usage counted (tests/world.py says why)."""
