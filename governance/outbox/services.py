"""Mail through an outbox: written in the transaction that decided to send it, sent by a worker after commit.

At least once: a sender claims one message at a time for a short lease, sends it outside any transaction (a slow
mail server holds no lock), then marks it sent. A sender that dies between sending and marking leaves the claim to
lapse, and the message is sent again; its key is its Message-ID, so mail systems and people see the same message.
A message asked for twice with the same key (a redelivered task) is written once. A message that keeps failing is
given up after MAX_ATTEMPTS, with its last error kept, so it cannot hold up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.access import active_officers
from accounts.models import Organisation, Proposal, User
from accounts.roles import Role
from charters.models import CharterVersion
from charters.services.charters import charter_accepted_version, required_trainings
from governance.models import OutboxMessage

logger = logging.getLogger(__name__)
BATCH = 100
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8


def _addresses(people: QuerySet[User]) -> list[str]:
    return sorted({email for email in people.values_list("email", flat=True) if email})


def page_link(name: str, /, *, query: Mapping[str, object] | None = None, **kwargs: object) -> str:
    """The address of a page, as the mail's reader opens it: ACCORD_PUBLIC_URL and the page's URL ``name``
    reversed with ``kwargs``, then ``query``. A link names an object, never a token or a secret; the caller picks
    a page the recipient may open (accounts/matrix.py)."""
    link = settings.ACCORD_PUBLIC_URL + reverse(name, kwargs=kwargs or None)
    return f"{link}?{urlencode(query)}" if query else link


def grant_link(grant_id: int) -> str:
    """The grant list showing one grant, whatever its status: grants have no page of their own."""
    return page_link("grant-list", query={"grant": grant_id})


def officer_addresses() -> list[str]:
    """Where mail for the officers goes: every active officer's address."""
    return _addresses(active_officers())


def proposal_mail(proposal: Proposal) -> None:
    """Tell the other officers that a proposal waits for a second one (accounts.proposals calls this when one is
    made): who asked, why, what will happen, until when, and where to confirm it."""
    plan = "\n".join(f"- {line}" for line in proposal.plan)
    link = page_link("proposals:proposal-detail", pk=proposal.pk)
    mail_enqueue(
        key=f"proposal-{proposal.pk}-made",
        to=_addresses(active_officers().exclude(pk=proposal.proposed_by_id)),
        subject=f"[Accord] A second officer is needed: {proposal.get_kind_display()} of {proposal.target_label}",
        body=f"{proposal.proposed_by.username} proposes: {proposal.get_kind_display()} of {proposal.target_label}.\n\n"
        f"Why: {proposal.reason}\n\nWhat confirming does:\n{plan}\n\nNothing happens until another officer "
        f"confirms it, by {proposal.expires_at:%Y-%m-%d %H:%M} UTC.\n\nOpen it: {link}\n",
    )


def _partner_admins(partner: Organisation) -> QuerySet[User]:
    return User.objects.filter(organisation=partner, is_active=True, groups__name=Role.PARTNER_ADMIN)


def partner_admin_addresses(partner: Organisation) -> list[str]:
    """Where mail for a partner goes: its active admins' addresses."""
    return _addresses(_partner_admins(partner))


def charter_acceptance_mail(version: CharterVersion) -> None:
    """Tell each of the partner's active admins that a newly approved version waits for their acceptance
    (charters.services calls this when one is approved, in its transaction): one message each, once per version.
    It says only what the agreement says: never the host-only terms (charters/documents.py)."""
    charter = version.charter
    trainings = [training["name"] for training in required_trainings(version)]
    todo = (
        f"read it, confirm its trainings ({', '.join(trainings)}) and accept it"
        if trainings
        else "read it and accept it"
    )
    before = charter_accepted_version(charter)
    meanwhile = (
        f" Until then, only what both this version and version {before.number}, which {charter.partner.name} "
        "accepted, allow goes on."
        if before is not None and before.pk != version.pk
        else ""
    )
    link = page_link("charters:acknowledge", slug=charter.slug)
    for admin in _partner_admins(charter.partner).exclude(email="").order_by("pk"):
        mail_enqueue(
            key=f"charter-version-{version.pk}-accept-{admin.pk}",
            to=[admin.email],
            subject=f"[Accord] Charter {charter.slug} v{version.number} waits for your acceptance",
            body=f"{settings.ACCORD_HOST_ORGANISATION} approved version {version.number} of charter {charter.slug} "
            f"({charter.title}). Access under its terms starts once a partner admin of {charter.partner.name} "
            f"accepts it: {todo}.{meanwhile}\n\nOpen it: {link}\n",
        )


def mail_enqueue(*, key: str, to: list[str], subject: str, body: str) -> OutboxMessage | None:
    """Queue a message in the caller's transaction; None when one with this key was queued already, or when
    there is no address to send it to (said in the log: someone has no email address)."""
    addresses = sorted({address.strip() for address in to if address and address.strip()})
    if not addresses:
        logger.warning("Mail %r has no recipient with an email address; it is not sent.", key)
        return None
    message, created = OutboxMessage.objects.get_or_create(
        key=key, defaults={"to": addresses, "subject": subject[:200], "body": body}
    )
    if not created:
        return None
    from governance.outbox.tasks import outbox_send  # governance.outbox.tasks imports this module

    # The every-30-seconds run sends it anyway if the broker cannot be reached now.
    transaction.on_commit(outbox_send.delay, robust=True)
    return message


def _message_id(key: str) -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "accord.localhost"
    return f"<{key.replace(' ', '-')}@{domain}>"


def _claim(message: OutboxMessage) -> bool:
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        OutboxMessage.objects.filter(free, pk=message.pk, sent_at__isnull=True).update(claimed_until=now + LEASE)
    )


def outbox_send(*, limit: int = BATCH) -> int:
    """Send what is waiting, fewest attempts first; how many were sent."""
    sent = 0
    waiting = OutboxMessage.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).order_by(
        "attempts", "created_at", "id"
    )
    for message in list(waiting[:limit]):
        if not _claim(message):
            continue  # another sender has it
        headers = {"Message-ID": _message_id(message.key)}
        try:
            delivered = EmailMessage(message.subject, message.body, to=message.to, headers=headers).send()
            if not delivered:
                raise RuntimeError("the mail backend accepted no recipient")
        except Exception as error:  # a mail server's failure stays on the message; the others go on
            logger.warning("Could not send %s (attempt %d): %s", message.key, message.attempts + 1, error)
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=message.attempts + 1, last_error=str(error)[:500], claimed_until=None
            )
            continue
        OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now(), attempts=message.attempts + 1)
        sent += 1
    return sent
