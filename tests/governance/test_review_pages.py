"""The access review pages: each item's evidence of use (bounded queries, in the page and the report), closing a
review early from its page and who may, answers refused on a closed review, and the select-all box with and
without JavaScript."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import Role
from accounts.services import actor_for, user_create
from audit.models import Event
from governance.decisions.services import DecisionRequest, decide
from governance.grants.roles import partner_role_add_member, partner_role_create
from governance.grants.services import grant_approve
from governance.models import ReviewCampaign
from governance.reviews import selectors as review_selectors
from governance.reviews import services as reviews
from tests.conftest import SETUP, committing
from tests.e2e.browser import confirmations, log_in
from tests.helpers import sign_in


def ask(principal, asset, times=1, *, action="infer"):
    return [decide(principal, DecisionRequest(action, asset, "benchmarking")) for _ in range(times)]


def page_of(client, user, campaign):
    sign_in(client, user)
    response = client.get(f"/governance/reviews/{campaign.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def row_of(page, grant):
    """The text of the grant's row on the review page, its cells separated by |."""
    match = re.search(
        rf'<tr><td>[^\n]*\n\s*<td><a href="/grants/\?grant={grant.pk}">#{grant.pk}</a></td>(.*?)</tr>', page, re.S
    )
    assert match, f"no row for grant #{grant.pk}"
    return "|".join(cell.strip() for cell in re.findall(r"<td>(.*?)</td>", match.group(1), re.S))


@pytest.fixture
def campaign(make_grant, live_charter, officer):
    make_grant()
    return reviews.review_start(charter=live_charter.charter, by=actor_for(officer))


# --- Evidence ---------------------------------------------------------------------------------------------------


@pytest.fixture
def used(make_grant, demo_registry, a_principal, atlas, live_charter, officer):
    """Four grants of Northwind's gateway, made 45 days ago: on atlas 1.0, ``busy`` (infer: used three times now)
    and ``limited`` (evaluate, rate limit 1: its second use this minute is refused); on atlas 1.1, ``dormant``
    (infer: used once, 40 days ago) and ``unused`` (evaluate). The gateway is also denied an export of atlas 1.0
    twice."""
    now = timezone.now()
    atlas_11 = demo_registry["atlas-7b 1.1"]
    with time_machine.travel(now - timedelta(days=45), tick=False):
        busy = make_grant(actions=["infer"], purposes=["benchmarking"])
        limited = make_grant(actions=["evaluate"], purposes=["benchmarking"], rate_per_minute=1)
        dormant = make_grant(asset_version=atlas_11, actions=["infer"], purposes=["benchmarking"])
        unused = make_grant(asset_version=atlas_11, actions=["evaluate"], purposes=["benchmarking"])
    with time_machine.travel(now - timedelta(days=40), tick=False):
        assert all(decision.allow for decision in ask(a_principal, atlas_11.fingerprint))
    assert all(decision.allow for decision in ask(a_principal, atlas, 3))
    evaluated = ask(a_principal, atlas, 2, action="evaluate")
    assert [decision.allow for decision in evaluated] == [True, False]
    assert evaluated[1].reasons[0]["code"] == "rate_limited"
    assert not any(decision.allow for decision in ask(a_principal, atlas, 2, action="export_outputs"))
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    return {"busy": busy, "limited": limited, "dormant": dormant, "unused": unused, "campaign": campaign}


def last_use(grant):
    event = Event.objects.filter(action="decision.allow", details__grant=grant.pk).order_by("-id").first()
    return f"{timezone.localtime(event.occurred_at):%Y-%m-%d %H:%M} UTC"


def test_each_item_shows_its_grants_last_use_uses_and_denies_over_30_days(used, client, second_officer):
    page = page_of(client, second_officer, used["campaign"])
    assert f"|{last_use(used['busy'])}|3|2|" in row_of(page, used["busy"])
    # The export denies name no grant: they count against each grant of the gateway on atlas 1.0. The rate limit's
    # deny names its grant: it counts against that one only.
    assert f"|{last_use(used['limited'])}|1|3|" in row_of(page, used["limited"])
    assert f"|{last_use(used['dormant'])}|0|0|" in row_of(page, used["dormant"])  # its last use, 40 days ago
    assert "|never|0|0|" in row_of(page, used["unused"])


def test_the_evidence_takes_the_same_queries_for_one_item_as_for_many(
    make_grant,
    make_request,
    live_charter,
    officer,
    second_officer,
    a_admin,
    a_principal,
    atlas,
    client,
):
    role = partner_role_create(partner=live_charter.charter.partner, slug="eval-jobs", by=SETUP)
    partner_role_add_member(role=role, principal=a_principal, by=SETUP)
    make_grant(principal=None, partner_role=role)
    ask(a_principal, atlas, 2)
    small = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    sign_in(client, second_officer)
    with CaptureQueriesContext(connection) as one:
        assert client.get(f"/governance/reviews/{small.pk}/").status_code == 200
    reviews.review_close(campaign=small, reason="Replaced by a wider review.", by=actor_for(officer))
    make_grant(principal=None, partner_role=role)
    other = user_create(username="northwind-batch", organisation=a_principal.organisation,
                        role=Role.PARTNER_PRINCIPAL, by=SETUP)  # fmt: skip
    for principal in (a_principal, other, a_principal):
        make_grant(principal=principal)
    ask(a_principal, atlas, 3)
    large = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    assert large.items.count() == 4
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"/governance/reviews/{large.pk}/").status_code == 200
    assert len(many) == len(one)
    assert sum("audit_event" in query["sql"] for query in many.captured_queries) == 1


def test_the_report_has_each_items_evidence(used, client, auditor):
    sign_in(client, auditor)
    report = client.get(f"/governance/reviews/{used['campaign'].pk}/report.csv").content.decode()
    rows = {row["grant"]: row for row in csv.DictReader(io.StringIO(report))}
    busy, unused = rows[str(used["busy"].pk)], rows[str(used["unused"].pk)]
    assert (busy["uses_30d"], busy["denies_30d"], unused["uses_30d"], unused["last_use"]) == ("3", "2", "0", "")
    assert busy["last_use"].startswith(f"{timezone.now():%Y-%m-%d}") and busy["evidence_until"]


def test_a_closed_reviews_evidence_ends_when_it_closed(used, officer, a_principal, atlas):
    campaign = used["campaign"]
    reviews.review_close(campaign=campaign, reason="The partner ended the engagement.",
                         by=actor_for(officer))  # fmt: skip
    campaign.refresh_from_db()
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        ask(a_principal, atlas, 2, action="export_outputs")  # after the close: not what its reviewers saw
        rows = {row.item.grant_id: row.evidence for row in review_selectors.review_rows(campaign)}
    assert rows[used["busy"].pk].denies == 2 and rows[used["busy"].pk].until == campaign.closed_at


# --- Closing from the page --------------------------------------------------------------------------------------


def test_an_officer_closes_a_review_from_its_page_with_a_reason(campaign, client, officer):
    page = page_of(client, officer, campaign)
    assert "Close the review" in page and "The 1 item(s) still waiting are" in page and "revoked" in page
    closed = client.post(f"/governance/reviews/{campaign.pk}/close/",
                         {"reason": "The partner ended the engagement."}, follow=True)  # fmt: skip
    text = closed.content.decode()
    assert closed.status_code == 200 and f"Review #{campaign.pk} is closed." in text
    assert "before every item was answered: The partner ended the engagement." in text
    assert "Close the review" not in text
    campaign.refresh_from_db()
    assert campaign.status == "closed" and campaign.closed_by == "olivia"


def test_closing_without_a_reason_says_what_to_write_on_the_page(campaign, client, officer):
    sign_in(client, officer)
    for data in ({}, {"reason": "  "}, {"reason": "done"}):
        response = client.post(f"/governance/reviews/{campaign.pk}/close/", data, follow=True)
        assert response.status_code == 200
        assert "Say in a sentence why you close the review now" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "open"


def test_closing_twice_says_it_is_closed_already(campaign, client, officer):
    sign_in(client, officer)
    url = f"/governance/reviews/{campaign.pk}/close/"
    client.post(url, {"reason": "The partner ended the engagement."})
    again = client.post(url, {"reason": "Closing it again, to be sure."}, follow=True)
    assert again.status_code == 200 and "was already closed by olivia" in again.content.decode()
    assert Event.objects.filter(action="review.closed").count() == 1


def test_closing_is_post_only(campaign, client, officer):
    sign_in(client, officer)
    response = client.get(f"/governance/reviews/{campaign.pk}/close/")
    assert response.status_code == 405 and "takes POST requests only" in response.content.decode()


def test_an_auditor_reads_a_review_but_neither_answers_nor_closes_it(campaign, client, auditor):
    page = page_of(client, auditor, campaign)
    assert "northwind-gateway" in page and "Close the review" not in page and 'name="items"' not in page
    close = client.post(f"/governance/reviews/{campaign.pk}/close/", {"reason": "The partner ended it all."})
    item = campaign.items.get()
    answer = client.post(f"/governance/reviews/{campaign.pk}/",
                         {"items": [item.pk], "decision": "keep", "justification": "Fine."})  # fmt: skip
    assert (close.status_code, answer.status_code) == (403, 403)
    campaign.refresh_from_db()
    assert campaign.status == "open"


def test_partners_cannot_close_reviews(campaign, client, a_admin):
    sign_in(client, a_admin)
    response = client.post(f"/governance/reviews/{campaign.pk}/close/", {"reason": "We are done with it."})
    assert response.status_code == 404  # a review is the host's: not there for a partner
    assert ReviewCampaign.objects.get(pk=campaign.pk).status == "open"


def test_a_closed_review_refuses_answers_with_a_message_that_says_what_to_do(campaign, client, officer, second_officer):
    item = campaign.items.get()
    reviews.review_close(campaign=campaign, reason="The partner ended the engagement.",
                         by=actor_for(officer))  # fmt: skip
    sign_in(client, second_officer)
    response = client.post(f"/governance/reviews/{campaign.pk}/",
                           {"items": [item.pk], "decision": "keep", "justification": "Late."}, follow=True)  # fmt: skip
    text = response.content.decode()
    assert response.status_code == 200
    assert f"Review #{campaign.pk} is closed: it takes no more answers. To reconsider a grant, start a new" in text


def test_the_last_answer_from_the_page_says_the_review_is_closed(campaign, client, second_officer):
    sign_in(client, second_officer)
    item = campaign.items.get()
    answer = {"items": [item.pk], "decision": "keep", "justification": "Needed."}
    response = client.post(f"/governance/reviews/{campaign.pk}/", answer, follow=True)
    assert "1 item(s) answered. Every item is answered: the review is closed." in response.content.decode()


# --- Select-all -------------------------------------------------------------------------------------------------


def test_without_javascript_the_select_all_box_stays_hidden_and_only_the_reviewers_items_have_boxes(
    make_grant,
    make_request,
    live_charter,
    officer,
    second_officer,
    client,
):
    make_grant()  # approved by Olivia: Oscar reviews it
    grant_approve(grant=make_request(), by=actor_for(second_officer))  # Olivia reviews it
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    page = page_of(client, second_officer, campaign)
    assert re.search(r'<input type="checkbox" data-select-all="items"[^>]* hidden>', page)
    assert "accord/select-all.js" in page
    oscars = campaign.items.get(reviewer=second_officer)
    assert re.findall(r'name="items" value="(\d+)"', page) == [str(oscars.pk)]


@pytest.mark.browser
@committing
def test_the_select_all_box_ticks_every_waiting_item_and_answers_them_in_one_go(
    browse,
    make_grant,
    live_charter,
    officer,
    second_officer,
):
    for purpose in ("benchmarking", "safety-evaluation", "benchmarking"):
        make_grant(purposes=[purpose])
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    first = campaign.items.order_by("pk").first()
    reviews.review_decide(item=first, decision="keep", justification="Needed.",
                          by=actor_for(second_officer))  # fmt: skip
    with browse() as page:
        log_in(page, second_officer)
        page.goto(f"/governance/reviews/{campaign.pk}/")
        select_all = page.get_by_label("Tick all your unanswered items")
        boxes = page.locator("input[name=items]")
        expect(boxes).to_have_count(2)
        select_all.check()
        for index in range(2):
            expect(boxes.nth(index)).to_be_checked()
        boxes.nth(0).uncheck()
        expect(select_all).not_to_be_checked()
        select_all.check()
        page.get_by_label("Justification").fill("The benchmarks are published.")
        page.get_by_role("button", name="Revoke the ticked items").click()
        expect(page.locator("ul.messages")).to_contain_text("2 item(s) answered. Every item is answered")
        assert confirmations(page) == [  # revoking asks first; keeping does not
            f"Revoke the grants of the ticked items of access review #{campaign.pk} (northwind-evaluation)? Each "
            "grantee is denied at once, and a revoked grant is never revived."
        ]
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    assert sorted(campaign.items.values_list("outcome", flat=True)) == ["kept", "revoked", "revoked"]
