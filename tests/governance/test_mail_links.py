"""Every mail ends with a link to the page it is about, on ACCORD_PUBLIC_URL, that its recipients may open: the
host's people get the host's pages, a partner's admins a page of their own partner's. A link names an object,
never a token. A partner's admins are mailed when a newly approved charter version waits for their acceptance,
once each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import resolve
from django.utils import timezone

from accounts import matrix
from accounts.models import User
from accounts.operations import Operation
from accounts.proposals import proposal_make
from accounts.roles import HOST_ROLES, Role
from accounts.services import actor_for, user_create
from charters.services.charters import (
    charter_amend,
    charter_apply,
    charter_version_approve,
    charter_version_submit,
)
from governance.exits.services import exit_run, exit_start
from governance.incidents import services as incidents
from governance.models import OutboxMessage, ReviewCampaign
from governance.outbox.services import charter_acceptance_mail
from governance.reviews import services as reviews
from governance.tasks import outbox_send as outbox_task
from tests.conftest import SETUP
from tests.helpers import second_officer_confirming, sign_in, spiked, used
from tests.world import activate

# What the Northwind example's host-only terms say (charters/examples/northwind-evaluation.yaml): never in mail to
# the partner.
HOST_ONLY = ["window_minutes", "min_uses", "security@meridian.example", "legal@meridian.example"]


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """Exits here are started as the act; a second officer's confirmation is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


def linked(message: OutboxMessage, view_name: str, **kwargs: object) -> str:
    """The path of the page ``message`` links to, after checking that its last line's link is on ACCORD_PUBLIC_URL,
    carries no query but a grant's number, and resolves to ``view_name`` for ``kwargs``."""
    *_, last = message.body.rstrip("\n").split("\n")
    found = re.fullmatch(r"Open [\w ]+: (\S+)", last)
    assert found, message.body
    link = found[1]
    assert link.startswith(settings.ACCORD_PUBLIC_URL + "/"), link
    parts = urlsplit(link.removeprefix(settings.ACCORD_PUBLIC_URL))
    assert set(parse_qs(parts.query)) <= {"grant"} and all(n.isdigit() for n in parse_qs(parts.query).get("grant", []))
    match = resolve(parts.path)
    assert (match.view_name, match.kwargs) == (view_name, kwargs)
    return link.removeprefix(settings.ACCORD_PUBLIC_URL)


def recipients(message: OutboxMessage) -> list[User]:
    people = list(User.objects.filter(email__in=message.to).order_by("pk"))
    assert people, f"{message.key} goes to nobody with an account: {message.to}"
    return people


def reading(path: str) -> Operation | matrix.Audience:
    """Who the authorization matrix lets read the page at ``path``."""
    match = resolve(urlsplit(path).path)
    entry = matrix.access_for(match.view_name)
    assert entry is not None, match.view_name
    return matrix.operation_of(entry.methods["GET"], match.kwargs)


def every_recipient_opens(client, message: OutboxMessage, path: str) -> None:
    """Each recipient with an account, signed in, gets the page; and the matrix agrees their role may read it."""
    rule = reading(path)
    for person in recipients(message):
        assert matrix.allows(person, rule), (person.username, path)
        sign_in(client, person)
        assert client.get(path).status_code == 200, (person.username, path)


def only_for_the_host(path: str) -> bool:
    rule = reading(path)
    return all(matrix.allows_role(role, rule) for role in HOST_ROLES) and not matrix.allows_role(
        Role.PARTNER_ADMIN, rule
    )


def shows_only(client, path: str, grant) -> bool:
    """Whether the grant list at ``path`` shows ``grant`` alone, whatever its status."""
    return [shown.pk for shown in client.get(path).context["grants"]] == [grant.pk]


def host_terms_in(message: OutboxMessage) -> list[str]:
    return [term for term in HOST_ONLY if term in message.subject + message.body]


# --- The host's mail --------------------------------------------------------------------------------------------


def test_a_proposal_mail_links_the_proposal_for_the_other_officers(live_charter, officer, second_officer, client):
    proposal = proposal_make(
        kind="charter_end", target=live_charter.charter.slug, reason="The study is over.", by=actor_for(officer)
    )
    message = OutboxMessage.objects.get(key=f"proposal-{proposal.pk}-made")
    path = linked(message, "proposals:proposal-detail", pk=proposal.pk)
    every_recipient_opens(client, message, path)


def test_an_incidents_mails_to_the_host_link_the_incident(live_charter, make_grant, officer, second_officer, client):
    make_grant()
    incident = incidents.incident_declare(
        charter=live_charter.charter,
        title="Prompts scraped at volume",
        severity="high",
        summary="Ten times the usual traffic overnight.",
        by=actor_for(officer),
    )
    incidents.incident_run(incident.pk)
    step = incident.steps.filter(automatic="").order_by("due_at").first()
    assert incidents.incidents_run(now=step.due_at + timedelta(minutes=1)).escalated == 1
    declared = OutboxMessage.objects.get(key=f"incident-{incident.pk}-declared")
    overdue = OutboxMessage.objects.get(key=f"incident-{incident.pk}-step-{step.position}-overdue")
    for message in (declared, overdue):
        every_recipient_opens(client, message, linked(message, "incident-detail", pk=incident.pk))
    # The charter's notification lists are the host's own responders, with no account here: a host page.
    told = OutboxMessage.objects.get(key=f"incident-{incident.pk}-notify")
    assert told.to == ["legal@meridian.example", "security@meridian.example"]
    assert only_for_the_host(linked(told, "incident-detail", pk=incident.pk))


def test_a_reviews_mails_link_the_review_and_an_escalation_the_grant(
    live_charter, make_grant, officer, second_officer, client
):
    grant = make_grant()  # Olivia approved it, so Oscar reviews it
    campaign = reviews.review_start(charter=live_charter.charter, by=actor_for(officer))
    reviews.reviews_run(now=campaign.deadline - timedelta(days=1))
    assigned = OutboxMessage.objects.get(key__startswith=f"review-{campaign.pk}-assigned-")
    reminded = OutboxMessage.objects.get(key__startswith=f"review-{campaign.pk}-reminder-")
    for message in (assigned, reminded):
        assert message.to == [second_officer.email]
        every_recipient_opens(client, message, linked(message, "review-detail", pk=campaign.pk))

    ReviewCampaign.objects.filter(pk=campaign.pk).update(unanswered="escalate")
    reviews.reviews_run(now=campaign.deadline + timedelta(seconds=30))
    escalated = OutboxMessage.objects.get(key__endswith="-escalated")
    path = linked(escalated, "grant-list")
    assert parse_qs(urlsplit(path).query) == {"grant": [str(grant.pk)]}
    every_recipient_opens(client, escalated, path)
    assert shows_only(client, path, grant)


def test_an_anomaly_finding_mail_links_the_suspended_grant(make_grant, a_principal, atlas, officer, client):
    grant = make_grant()
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    used(a_principal, atlas, 1, at=now - timedelta(hours=3))  # a baseline for the spike
    [finding] = spiked(a_principal, atlas, at=now)
    message = OutboxMessage.objects.get(key=f"anomaly-finding-{finding.pk}")
    path = linked(message, "grant-list")
    assert parse_qs(urlsplit(path).query) == {"grant": [str(grant.pk)]}
    every_recipient_opens(client, message, path)
    assert shows_only(client, path, grant)  # suspended now, and shown all the same


# --- The partner's mail -----------------------------------------------------------------------------------------


def test_an_incidents_mail_to_the_partner_links_their_portals_incidents_not_the_hosts_page(
    live_charter, make_grant, officer, a_admin, client
):
    make_grant()
    incident = incidents.incident_declare(
        charter=live_charter.charter, title="Scraping", severity="high", summary="Odd traffic.", by=actor_for(officer)
    )
    incidents.incident_run(incident.pk)
    message = OutboxMessage.objects.get(key=f"incident-{incident.pk}-partner")
    assert message.to == [a_admin.email] and host_terms_in(message) == []
    path = linked(message, "portal-incidents")
    assert message.body.rstrip().endswith(f"#incident-{incident.pk}")
    every_recipient_opens(client, message, path)


def test_an_exits_mails_link_the_exit_for_the_partners_admins_and_the_officers(
    live_charter, northwind_holdings, officer, second_officer, a_admin, b_admin, client
):
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Finished.").pk)
    attest = OutboxMessage.objects.get(key=f"exit-{exit_.pk}-attestation")
    assert attest.to == [a_admin.email] and host_terms_in(attest) == []
    path = linked(attest, "exit-detail", pk=exit_.pk)
    every_recipient_opens(client, attest, path)
    sign_in(client, b_admin)
    assert client.get(path).status_code == 404  # another partner's exit is not there for Helix


def test_the_mail_that_an_exit_is_complete_links_a_page_both_the_officers_and_the_partner_open(
    live_charter, officer, second_officer, a_admin, client
):
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Nothing shared.").pk)
    closed = OutboxMessage.objects.get(key=f"exit-{exit_.pk}-closed")
    assert set(closed.to) == {officer.email, second_officer.email, a_admin.email} and host_terms_in(closed) == []
    every_recipient_opens(client, closed, linked(closed, "exit-detail", pk=exit_.pk))


# --- A version waits for the partner's acceptance ---------------------------------------------------------------


def acceptance_mail() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(key__contains="-accept-").order_by("key"))


def test_an_approved_version_mails_each_of_the_partners_admins_a_link_to_accept_it(
    charter_text, officer, second_officer, a_admin, b_admin, partner_a, client
):
    def admin(username: str, email: str) -> User:
        return user_create(username=username, organisation=partner_a, role=Role.PARTNER_ADMIN, by=SETUP, email=email)

    other = admin("northwind-second-admin", "second-admin@x.example")
    admin("northwind-no-mail", "")
    gone = admin("northwind-gone", "gone@x.example")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    version = activate(charter_text(), officer, second_officer)
    charter = version.charter

    mails = acceptance_mail()
    assert [message.to for message in mails] == [[a_admin.email], [other.email]]  # not Helix's, nor the officers'
    assert [message.key for message in mails] == [f"charter-version-{version.pk}-accept-{a_admin.pk}",
                                                  f"charter-version-{version.pk}-accept-{other.pk}"]  # fmt: skip
    message = mails[0]
    assert message.subject == f"[Accord] Charter {charter.slug} v1 waits for your acceptance"
    assert "responsible-evaluation" in message.body and host_terms_in(message) == []
    path = linked(message, "charters:acknowledge", slug=charter.slug)
    every_recipient_opens(client, message, path)  # as the second admin, last
    assert "Accept version 1" in client.get(path).content.decode()
    sign_in(client, b_admin)
    assert client.get(path).status_code == 404


def test_the_acceptance_mail_is_written_and_sent_once_however_often_it_is_asked_for(
    charter_text, officer, second_officer, a_admin
):
    version = activate(charter_text(), officer, second_officer)
    charter_acceptance_mail(version)  # asked for again, as a redelivered message would
    assert len(acceptance_mail()) == 1
    assert outbox_task() == 1 and outbox_task() == 0
    [sent] = mail.outbox
    assert sent.to == [a_admin.email] and sent.extra_headers["Message-ID"].startswith(
        f"<charter-version-{version.pk}-accept-{a_admin.pk}@"
    )


def test_an_amended_version_asks_again_and_says_what_goes_on_meanwhile(
    live_charter, charter_text, officer, second_officer, a_admin
):
    amended = charter_version_submit(version=charter_amend(charter=live_charter.charter, by=actor_for(officer)),
                                     by=actor_for(officer))  # fmt: skip
    charter_version_approve(version=amended, by=actor_for(second_officer))
    first, second = acceptance_mail()
    assert first.key == f"charter-version-{live_charter.pk}-accept-{a_admin.pk}"
    assert second.key == f"charter-version-{amended.pk}-accept-{a_admin.pk}" and "v2" in second.subject
    assert "only what both this version and version 1, which Northwind Labs accepted, allow goes on" in second.body


def test_a_refused_approval_mails_nobody(charter_text, officer, a_admin):
    version = charter_version_submit(version=charter_apply(text=charter_text(), by=actor_for(officer)),
                                     by=actor_for(officer))  # fmt: skip
    with pytest.raises(ValidationError, match="two-person rule"):
        charter_version_approve(version=version, by=actor_for(officer))
    assert acceptance_mail() == []
