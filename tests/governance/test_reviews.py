"""Access reviews: started on the cadence or on demand, answered singly or in bulk with a justification, reminded
before the deadline, and at the deadline exactly the unanswered items are revoked or escalated, once."""

import threading
from datetime import timedelta
from functools import partial

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from accounts.services import actor_for
from audit.models import Event
from charters.models import Charter
from governance.models import Grant, OutboxMessage, ReviewCampaign, ReviewItem
from governance.outbox.services import outbox_send
from governance.reviews import services as reviews
from governance.tasks import reviews_run as reviews_task
from tests.conftest import committing
from tests.factories import CharterVersionFactory, GrantFactory
from tests.helpers import sign_in, wait_for


@pytest.fixture
def live_charter(partner_a, officer, second_officer):
    """Northwind's charter as rows: reviews need its state and terms, not its way through approval."""
    return CharterVersionFactory(charter__partner=partner_a, author=officer, approved_by=second_officer)


@pytest.fixture
def grant_for_a(live_charter, demo_registry, a_principal, a_admin, officer):
    """An active grant for A's principal on atlas-7b 1.0, approved by Olivia unless ``approved_by`` says otherwise."""
    return partial(
        GrantFactory,
        charter_version=live_charter,
        asset_version=demo_registry["atlas-7b 1.0"],
        principal=a_principal,
        requested_by=a_admin,
        approved_by=officer,
    )


@pytest.fixture
def three(grant_for_a):
    return [grant_for_a(purposes=[purpose]) for purpose in ("benchmarking", "safety-evaluation")] + [
        grant_for_a(actions=["evaluate"], purposes=["benchmarking"])
    ]


@pytest.fixture
def campaign(three, live_charter, officer):
    return reviews.review_start(charter=live_charter.charter, by=actor_for(officer))


def status_of(grant):
    grant.refresh_from_db()
    return grant.status


def waiting_for_a_lock():
    """Whether another connection to this test's database is waiting for a row lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees the activity it first saw
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_review_snapshots_the_live_grants_and_shares_them_among_the_officers(
    campaign, three, officer, second_officer
):
    items = list(campaign.items.order_by("grant_id"))
    assert [item.grant_id for item in items] == sorted(grant.pk for grant in three)
    # Olivia approved every one of them, so Oscar reviews them: nobody certifies their own approval.
    assert {item.reviewer for item in items} == {second_officer}
    assert items[0].snapshot["status"] == "active" and items[0].snapshot["grantee"] == "northwind-gateway"
    assert campaign.unanswered == "revoke" and campaign.deadline - campaign.created_at == timedelta(days=14)
    assert Event.objects.filter(action="review.started").count() == 1
    assert OutboxMessage.objects.filter(key__startswith=f"review-{campaign.pk}-assigned-").count() == 1


def test_answers_keep_or_revoke_singly_or_in_bulk_with_a_justification(campaign, three, second_officer):
    first, second, third = campaign.items.order_by("grant_id")
    actor_for(second_officer)
    reviews.review_decide(item=first, decision="keep", justification="Still evaluating.", by=actor_for(second_officer))
    with pytest.raises(ValidationError, match="answered already"):
        reviews.review_decide(
            item=first, decision="revoke", justification="Changed mind.", by=actor_for(second_officer)
        )
    assert reviews.review_decide_bulk(campaign=campaign, item_ids=[second.pk, third.pk], decision="revoke",
                                      justification="Project over.", by=actor_for(second_officer)) == 2  # fmt: skip
    assert [status_of(grant) for grant in three] == ["active", "revoked", "revoked"]
    revoked = Event.objects.get(action="grant.revoked", target_id=str(three[1].pk))
    assert revoked.reason == f"Access review #{campaign.pk}: Project over."


def test_bad_answers_are_refused_and_change_nothing(campaign, officer, second_officer, a_admin):
    first, second, _ = campaign.items.order_by("grant_id")
    actor_for(second_officer)
    with pytest.raises(ValidationError, match="Say why"):
        reviews.review_decide(item=first, decision="keep", justification=" ", by=actor_for(second_officer))
    with pytest.raises(PermissionDenied, match="Only a governance officer"):
        reviews.review_decide(item=first, decision="keep", justification="Mine.", by=actor_for(a_admin))
    with pytest.raises(ValidationError, match="is for oscar to answer"):
        reviews.review_decide(item=first, decision="keep", justification="Mine.", by=actor_for(officer))
    reviews.review_decide(item=second, decision="keep", justification="Fine.", by=actor_for(second_officer))
    with pytest.raises(ValidationError, match="answered already"):  # the bulk is all or nothing
        reviews.review_decide_bulk(campaign=campaign, item_ids=[first.pk, second.pk],
                                   decision="revoke", justification="Both.", by=actor_for(second_officer))  # fmt: skip
    first.refresh_from_db()
    assert first.decision == "" and Grant.objects.filter(status="revoked").count() == 0


def test_a_second_open_review_of_the_same_charter_is_refused(campaign, live_charter, officer):
    with pytest.raises(ValidationError, match="already has an open review"):
        reviews.review_start(charter=live_charter.charter, by=actor_for(officer))


def test_the_deadline_revokes_exactly_the_unanswered_items_once(campaign, three, second_officer):
    first = campaign.items.order_by("grant_id").first()
    actor_for(second_officer)
    reviews.review_decide(item=first, decision="keep", justification="Needed.", by=actor_for(second_officer))
    with time_machine.travel(campaign.deadline - timedelta(days=3), tick=False):
        assert reviews_task()["reminded"] == 0
    with time_machine.travel(campaign.deadline - timedelta(days=1), tick=False):
        assert reviews_task()["reminded"] == 1 and reviews_task()["reminded"] == 0  # reminded once
        reminders = OutboxMessage.objects.filter(key__startswith=f"review-{campaign.pk}-reminder-")
        assert reminders.count() == 1  # Oscar still has items
    with time_machine.travel(campaign.deadline + timedelta(seconds=30), tick=False):
        assert reviews_task() == {"started": 0, "reminded": 0, "resolved": 2, "closed": 1}
        assert reviews_task() == {"started": 0, "reminded": 0, "resolved": 0, "closed": 0}
    assert [status_of(grant) for grant in three] == ["active", "revoked", "revoked"]
    assert Event.objects.filter(action="grant.revoked").count() == 2
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    assert sorted(campaign.items.values_list("outcome", flat=True)) == ["kept", "revoked", "revoked"]
    with pytest.raises(ValidationError, match="is closed: it takes no more answers"):
        late = campaign.items.last()
        reviews.review_decide(item=late, decision="keep", justification="Late.", by=actor_for(second_officer))


def test_a_charter_that_says_escalate_mails_the_officers_and_keeps_the_grants(campaign, three, officer):
    ReviewCampaign.objects.filter(pk=campaign.pk).update(unanswered="escalate")
    with time_machine.travel(campaign.deadline + timedelta(seconds=30), tick=False):
        assert reviews_task()["resolved"] == 3
    assert [status_of(grant) for grant in three] == ["active"] * 3
    escalations = OutboxMessage.objects.filter(key__contains="-escalated")
    assert escalations.count() == 3 and officer.email in escalations.first().to
    outbox_send()
    assert sum("Unanswered in access review" in message.subject for message in mail.outbox) == 3


def test_the_cadence_starts_a_review_when_it_is_due(three, live_charter):
    approved = live_charter.approved_at
    with time_machine.travel(approved + timedelta(days=89), tick=False):
        assert reviews_task()["started"] == 0
    with time_machine.travel(approved + timedelta(days=90, minutes=1), tick=False):
        assert reviews_task()["started"] == 1 and reviews_task()["started"] == 0
    campaign = ReviewCampaign.objects.get()
    assert campaign.trigger == "cadence" and campaign.items.count() == 3


def test_the_review_workspace_answers_and_exports_a_report(campaign, client, second_officer):
    sign_in(client, second_officer)
    page = client.get(f"/governance/reviews/{campaign.pk}/").content.decode()
    assert "northwind-gateway" in page and "Keep" in page
    item = campaign.items.order_by("grant_id").first()
    url = f"/governance/reviews/{campaign.pk}/"
    answered = client.post(url, {"items": [item.pk], "decision": "keep", "justification": "Needed."}, follow=True)
    assert "1 item(s) answered" in answered.content.decode()
    missing = client.post(url, {"items": [item.pk], "decision": "revoke"}, follow=True).content.decode()
    assert "Say why" in missing
    report = client.get(f"/governance/reviews/{campaign.pk}/report.csv")
    assert report["Content-Type"].startswith("text/csv") and b'"keep","Needed."' in report.content
    listing = client.get("/governance/reviews/").content.decode()
    assert f"#{campaign.pk}" in listing


def test_partners_cannot_see_reviews(campaign, client, a_admin):
    sign_in(client, a_admin)
    assert client.get(f"/governance/reviews/{campaign.pk}/").status_code == 404


def test_no_review_without_grants(live_charter, officer):
    with pytest.raises(ValidationError, match="no active or suspended grant"):
        reviews.review_start(charter=Charter.objects.get(pk=live_charter.charter.pk), by=actor_for(officer))
    assert not ReviewItem.objects.exists()


# --- Closing: on the last answer, early by an officer, and by the run -------------------------------------------


def test_the_answer_to_the_last_item_closes_the_review_and_the_next_one_can_start(
    campaign, live_charter, second_officer, officer
):
    first, *rest = campaign.items.order_by("pk")
    actor_for(second_officer)
    reviews.review_decide(item=first, decision="keep", justification="Needed.", by=actor_for(second_officer))
    campaign.refresh_from_db()
    assert campaign.status == "open"  # two items still waiting
    reviews.review_decide_bulk(campaign=campaign, item_ids=[item.pk for item in rest],
                               decision="keep", justification="Needed too.", by=actor_for(second_officer))  # fmt: skip
    campaign.refresh_from_db()
    assert campaign.status == "closed" and campaign.closed_by == "oscar" and campaign.close_reason == ""
    closed = Event.objects.get(action="review.closed", target_id=str(campaign.pk))
    assert closed.actor_label == "oscar"
    assert closed.details == {"charter": live_charter.charter.slug, "ended": "answered", "kept": 3, "revoked": 0,
                              "escalated": 0, "gone": 0}  # fmt: skip
    assert reviews_task() == {"started": 0, "reminded": 0, "resolved": 0, "closed": 0}  # closed already, not twice
    assert reviews.review_start(charter=live_charter.charter, by=actor_for(officer)).status == "open"


def test_a_fully_answered_review_left_open_is_closed_and_counted_by_the_next_run(campaign, second_officer):
    # As reviews answered before answers closed them were left: every item kept, the review still open.
    campaign.items.update(decision="keep", justification="Needed.", decided_at=campaign.created_at, outcome="kept")
    assert reviews_task() == {"started": 0, "reminded": 0, "resolved": 0, "closed": 1}
    assert reviews_task()["closed"] == 0
    campaign.refresh_from_db()
    assert campaign.status == "closed" and campaign.closed_by == "access-reviews"
    assert Event.objects.get(action="review.closed").details["ended"] == "answered"


def test_an_officer_closes_a_review_early_and_the_waiting_items_are_resolved_as_at_the_deadline(
    campaign, three, officer, second_officer
):
    first = campaign.items.order_by("grant_id").first()
    reviews.review_decide(item=first, decision="keep", justification="Needed.",
                          by=actor_for(second_officer))  # fmt: skip
    reason = "The partner ended the engagement early."
    closed = reviews.review_close(campaign=campaign, reason=f"  {reason} ", by=actor_for(officer))
    assert closed.status == "closed" and closed.closed_by == "olivia" and closed.close_reason == reason
    assert [status_of(grant) for grant in three] == ["active", "revoked", "revoked"]
    assert sorted(campaign.items.values_list("outcome", flat=True)) == ["kept", "revoked", "revoked"]
    unanswered = Event.objects.filter(action="review.item_unanswered")
    assert unanswered.count() == 2 and {event.actor_label for event in unanswered} == {"olivia"}
    assert all(reason in event.reason for event in unanswered)
    event = Event.objects.get(action="review.closed")
    assert event.reason == reason and event.details["ended"] == "closed_early" and event.details["revoked"] == 2
    assert reviews_task()["closed"] == 0


def test_closing_early_under_a_charter_that_escalates_keeps_the_grants_and_mails_the_officers(campaign, three, officer):
    ReviewCampaign.objects.filter(pk=campaign.pk).update(unanswered="escalate")
    reviews.review_close(campaign=campaign, reason="Superseded by the audit review.",
                         by=actor_for(officer))  # fmt: skip
    assert [status_of(grant) for grant in three] == ["active"] * 3
    assert sorted(set(campaign.items.values_list("outcome", flat=True))) == ["escalated"]
    assert OutboxMessage.objects.filter(key__contains="-escalated").count() == 3


def test_closing_needs_a_reason_an_officer_and_an_open_review(campaign, three, officer, auditor):
    actor_for(officer)
    for reason in ("", "   ", "ok"):
        with pytest.raises(ValidationError, match="Say in a sentence why"):
            reviews.review_close(campaign=campaign, reason=reason, by=actor_for(officer))
    with pytest.raises(PermissionDenied, match="Only a governance officer closes"):
        reviews.review_close(campaign=campaign, reason="I think it is done.", by=actor_for(auditor))
    campaign.refresh_from_db()
    assert campaign.status == "open" and [status_of(grant) for grant in three] == ["active"] * 3
    reviews.review_close(campaign=campaign, reason="The partner ended the engagement.", by=actor_for(officer))
    with pytest.raises(ValidationError, match="already closed by olivia"):
        reviews.review_close(campaign=campaign, reason="Closing it again, to be sure.", by=actor_for(officer))
    assert Event.objects.filter(action="review.closed").count() == 1


def test_a_review_closed_early_refuses_further_answers(campaign, officer, second_officer):
    reviews.review_close(campaign=campaign, reason="The partner ended the engagement.",
                         by=actor_for(officer))  # fmt: skip
    item = campaign.items.first()
    with pytest.raises(ValidationError, match=rf"Review #{campaign.pk} is closed: .* start a new review"):
        reviews.review_decide(item=item, decision="keep", justification="Late.",
                              by=actor_for(second_officer))  # fmt: skip


@pytest.mark.postgres
@committing
def test_two_reviewers_answering_the_last_two_items_at_once_close_the_review(
    grant_for_a, live_charter, officer, second_officer
):
    # Olivia approved the first grant and Oscar the second: each reviews the other's.
    grant_for_a()
    grant_for_a(approved_by=second_officer)
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    olivias, oscars = campaign.items.get(reviewer=officer), campaign.items.get(reviewer=second_officer)

    errors = []

    def answer_as_olivia():
        try:
            reviews.review_decide(item=olivias, decision="keep", justification="Hers.",
                                  by=actor_for(officer))  # fmt: skip
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    with transaction.atomic():  # Oscar's answer, not committed yet while Olivia answers hers
        reviews.review_decide(item=oscars, decision="keep", justification="His.",
                              by=actor_for(second_officer))  # fmt: skip
        olivia = threading.Thread(target=answer_as_olivia)
        olivia.start()
        assert wait_for(lambda: not olivia.is_alive() or waiting_for_a_lock(), timeout=30, every=0.01), (
            "Olivia's answer went nowhere"
        )
    olivia.join(timeout=30)
    assert not olivia.is_alive() and errors == []
    campaign.refresh_from_db()
    assert campaign.status == "closed" and Event.objects.filter(action="review.closed").count() == 1
