"""A worker killed with SIGKILL in the middle of a review's deadline run: the real broker (Redis, with a short
visibility timeout) hands the task to a restarted worker, which finishes it; no grant is revoked twice."""

import os
import signal
from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from governance.models import Grant, ReviewCampaign, ReviewItem
from governance.reviews import services as reviews
from tests.conftest import committing
from tests.helpers import QUEUE, needs_the_real_broker, wait_for, worker

GRANTS = 200


def resolved(campaign):
    return ReviewItem.objects.filter(campaign=campaign).exclude(outcome="").count()


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_a_deadline_run_killed_midway_is_finished_once_by_the_next_worker(make_grant, live_charter, officer):
    database = settings.DATABASES["default"]
    needs_the_real_broker()
    purposes = (["benchmarking"], ["safety-evaluation"], ["benchmarking", "safety-evaluation"])
    for number in range(GRANTS):
        make_grant(purposes=purposes[number % 3], valid_until=timezone.now() + timedelta(days=30 + number))
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    ReviewCampaign.objects.filter(pk=campaign.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}".format(**database),
        "REDIS_URL": settings.REDIS_URL,
        # The test's install: the worker takes its tasks from this install's queues (tests/processes.py).
        "ACCORD_INSTALL_NAME": settings.ACCORD_INSTALL_NAME,
        "ACCORD_CELERY_VISIBILITY_TIMEOUT": "3",  # redelivery within seconds, not the production hour
        "ACCORD_AUDIT_ANCHOR_FILE": str(settings.ACCORD_AUDIT_ANCHOR_FILE),
    }
    first = worker(env)
    try:
        current_app.send_task("governance.tasks.reviews_run", queue=QUEUE)
        assert wait_for(lambda: resolved(campaign) >= 5, timeout=60, every=0.01), (
            "the first worker never started the run"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = resolved(campaign)
    assert at_kill < GRANTS, "the run finished before the kill: nothing was tested"

    second = worker(env)
    try:
        assert wait_for(
            lambda: ReviewCampaign.objects.get(pk=campaign.pk).status == "closed", timeout=90, every=0.01
        ), "the restarted worker did not finish the redelivered run"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    grant_ids = list(campaign.items.values_list("grant_id", flat=True))
    revocations = Event.objects.filter(action="grant.revoked", target_id__in=[str(pk) for pk in grant_ids])
    assert revocations.count() == GRANTS == len(set(revocations.values_list("target_id", flat=True)))
    assert Event.objects.filter(action="review.item_unanswered").count() == GRANTS
    assert Event.objects.filter(action="review.closed").count() == 1
    assert Grant.objects.filter(pk__in=grant_ids, status="revoked").count() == GRANTS
