"""The timeliness charts: review items against their review's deadline and incident steps against their due time,
counted by the month the deadline fell in, each state once, drills apart unless asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import actor_for
from governance.incidents.services import incident_declare
from governance.models import IncidentStep, ReviewItem
from governance.ops.timeliness import months_back, review_timeliness, step_timeliness
from governance.reviews.services import review_close, review_start
from tests.factories import CharterVersionFactory, GrantFactory
from tests.helpers import sign_in

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def charter(partner_a, officer, second_officer):
    return CharterVersionFactory(charter__partner=partner_a, author=officer, approved_by=second_officer)


@pytest.fixture
def grants(charter, demo_registry, a_principal, a_admin, officer):
    make = partial(
        GrantFactory,
        charter_version=charter,
        asset_version=demo_registry["atlas-7b 1.0"],
        principal=a_principal,
        requested_by=a_admin,
        approved_by=officer,
    )
    return [make(purposes=[purpose]) for purpose in ("benchmarking", "safety-evaluation", "red-teaming", "audit")]


def test_months_back_end_with_this_month_and_cross_the_year():
    assert months_back(datetime(2026, 2, 14, tzinfo=UTC), 3) == [
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    ]


def test_review_items_are_on_time_late_missed_or_overdue_by_their_reviews_deadline(charter, grants, officer):
    with time_machine.travel(NOW - timedelta(days=50), tick=False):  # October's review, closed at its deadline
        october = review_start(charter=charter.charter, by=actor_for(officer))
    first, second, _, _ = ReviewItem.objects.filter(campaign=october).order_by("pk")
    ReviewItem.objects.filter(pk=first.pk).update(
        decision="keep", outcome="kept", decided_at=october.deadline - timedelta(days=1)
    )
    ReviewItem.objects.filter(pk=second.pk).update(
        decision="keep", outcome="kept", decided_at=october.deadline + timedelta(days=2)
    )
    with time_machine.travel(october.deadline, tick=False):
        review_close(campaign=october, reason="The deadline came.", by=actor_for(officer))  # the others revoked
    with time_machine.travel(NOW - timedelta(days=30), tick=False):  # a review still open, its deadline gone
        late = review_start(charter=charter.charter, by=actor_for(officer))
    assert late.deadline < NOW

    months = {month.start.month: month for month in review_timeliness(now=NOW, months=3)}
    deadline_month = october.deadline.month
    assert months[deadline_month].counts == {"on_time": 1, "late": 1, "missed": 2}
    assert months[deadline_month].on_time_share == 0.25
    assert months[late.deadline.month].counts.get("overdue") == 2  # the two kept in October
    assert review_timeliness(now=NOW, months=3, partner="helix")[-1].counts == {}  # another partner's: none


def test_incident_steps_are_counted_by_when_they_were_due_and_drills_only_when_asked(charter, grants, officer):
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        real = incident_declare(charter=charter.charter, title="Leak", severity="high", summary="A copy was found.",
                                by=actor_for(officer))  # fmt: skip
        incident_declare(charter=charter.charter, title="Drill", severity="high", summary="Practice.",
                         by=actor_for(officer), drill=True)  # fmt: skip
    steps = list(real.steps.order_by("position"))
    assert len(steps) >= 2
    IncidentStep.objects.filter(pk=steps[0].pk).update(status="done", done_at=steps[0].due_at - timedelta(hours=1))
    IncidentStep.objects.filter(pk=steps[1].pk).update(status="done", done_at=steps[1].due_at + timedelta(hours=1))
    counted = step_timeliness(now=NOW, months=1)[-1].counts
    assert counted["on_time"] == 1 and counted["late"] == 1
    assert sum(counted.values()) == len(steps)
    with_drills = step_timeliness(now=NOW, months=1, drills=True)[-1].counts
    assert sum(with_drills.values()) == len(steps) * 2


def test_the_page_charts_both_with_the_numbers_and_a_csv_and_costs_the_same_for_more_rows(
    client, officer, a_admin, charter, grants
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/governance/timeliness/?span=12m").status_code == 200
        return len(captured)

    sign_in(client, officer)
    review_start(charter=charter.charter, by=actor_for(officer))
    few = queries()
    for number in range(5):
        incident_declare(charter=charter.charter, title=f"Incident {number}", severity="high", summary="Suspected.",
                         by=actor_for(officer))  # fmt: skip
    assert queries() == few
    page = client.get("/governance/timeliness/").content.decode()
    assert 'id="timeliness-data"' in page and "Review items answered by the deadline" in page
    assert "<th>Unanswered at the deadline</th>" in page and "<th>Not done when the incident closed</th>" in page
    csv = client.get("/governance/timeliness/?format=csv").content.decode().splitlines()
    assert csv[0] == "kind,month,on_time,late,missed,overdue,not_due,on_time_share"
    assert any(row.startswith("reviews,") and row.endswith(",0,0,0,0,4,") for row in csv)  # four, not due yet
    assert "is not a span" in client.get("/governance/timeliness/?span=2y", follow=True).content.decode()
    sign_in(client, a_admin)
    assert client.get("/governance/timeliness/").status_code == 403
