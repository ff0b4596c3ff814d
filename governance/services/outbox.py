"""Mail through an outbox: written in the transaction that decided to send it, sent by a worker after commit.

At least once: a worker that dies after sending and before marking the message sent sends it again on the next
run. The message's key is also its Message-ID, so mail systems and people see a resend as the same message; and a
message asked for twice with the same key (a redelivered task) is written once.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from governance.models import OutboxMessage

logger = logging.getLogger(__name__)
SEND_TASK = "governance.tasks.outbox_send"
BATCH = 100


def mail_enqueue(*, key: str, to: list[str], subject: str, body: str) -> OutboxMessage | None:
    """Queue a message in the caller's transaction; None when one with this key was queued already."""
    if not to:
        return None
    message, created = OutboxMessage.objects.get_or_create(
        key=key, defaults={"to": sorted(set(to)), "subject": subject[:200], "body": body}
    )
    if not created:
        return None
    transaction.on_commit(lambda: current_app.send_task(SEND_TASK))
    return message


def _message_id(key: str) -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "accord.localhost"
    return f"<{key.replace(' ', '-')}@{domain}>"


def outbox_send(*, limit: int = BATCH) -> int:
    """Send what is waiting, oldest first; how many were sent. A failure is kept on the message and retried on
    the next run; the others go on."""
    sent = 0
    with transaction.atomic():
        waiting = OutboxMessage.objects.filter(sent_at__isnull=True).order_by("created_at", "id")
        if transaction.get_connection().vendor == "postgresql":
            waiting = waiting.select_for_update(skip_locked=True)  # two workers never send the same message
        for message in waiting[:limit]:
            mail = EmailMessage(
                message.subject, message.body, to=message.to, headers={"Message-ID": _message_id(message.key)}
            )
            try:
                mail.send()
            except Exception as error:
                logger.warning("Could not send %s: %s", message.key, error)
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=message.attempts + 1, last_error=str(error)[:500]
                )
                continue
            OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now(), attempts=message.attempts + 1)
            sent += 1
    return sent
