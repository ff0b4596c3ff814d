"""The usage page in Chromium: the charts draw from the roll-up's numbers under the strict CSP (a refusal would fail
the test: tests/e2e/browser.py), and the table below holds the same numbers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from accounts.models import User
from audit import chain
from governance.decisions.services import DecisionRequest, decide
from governance.models import Grant
from governance.usage.services import usage_rollup
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in

pytestmark = [pytest.mark.browser, committing]


def test_the_usage_chart_draws_the_decisions_the_roll_up_counted(
    browse: Browse, make_grant: Callable[..., Grant], officer: User, a_principal: User, atlas: str
) -> None:
    make_grant()
    for action in ["infer"] * 3 + ["fine_tune"]:
        decide(a_principal, DecisionRequest(action, atlas, "benchmarking"))
    chain.seal()
    usage_rollup()

    with browse() as page:
        log_in(page, officer)
        go(page, "Usage")
        expect(page.get_by_role("heading", name="Decisions over time")).to_be_visible()
        expect(page.get_by_text("3 allowed, 1 denied")).to_be_visible()
        drawn = page.locator("#usage-chart").evaluate(
            "canvas => Chart.getChart(canvas).data.datasets.map(set => set.data.reduce((a, b) => a + (b || 0), 0))"
        )
        assert drawn[:2] == [3, 1]
        reasons = page.locator("#reasons-chart").evaluate("canvas => Chart.getChart(canvas).data.labels")
        assert reasons == ["action_not_permitted"]
        page.get_by_role("link", name="See them as a table").click()
        busy = page.locator("#numbers + div table tbody tr").filter(has_text="25 %")
        expect(busy).to_have_count(1)
        expect(busy.get_by_role("cell")).to_have_text([re.compile(r"^\d{4}-\d\d-\d\d \d\d:00$"), "3", "1", "25 %"])
        quotas = page.locator("#quota-chart").evaluate("canvas => Chart.getChart(canvas).data.datasets[0].data")
        assert quotas == [0.3]  # 3 of the grant's daily 1,000, in per cent

        page.get_by_role("link", name="Were review and incident clocks kept?").click()
        expect(page.get_by_role("heading", name="Were the clocks kept?")).to_be_visible()
        for chart in ("#reviews-chart", "#steps-chart"):
            stacks = page.locator(chart).evaluate("canvas => Chart.getChart(canvas).data.datasets.length")
            assert stacks == 5  # on time, late, missed, overdue, not due
