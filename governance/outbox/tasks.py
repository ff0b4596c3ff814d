"""The outbox's task. It lives beside the outbox, not in governance/tasks.py with the others, because the outbox
queues it and may import no domain (governance/tasks.py imports them all, and re-exports this one)."""

from __future__ import annotations

from celery import shared_task

from accord.celery import RetryingJob
from governance.outbox.services import outbox_send as outbox_send_service


# The name it had in governance/tasks.py: the outbox's beat row names it so.
@shared_task(name="governance.tasks.outbox_send", base=RetryingJob)
def outbox_send() -> int:
    """Queued after each message commits, and scheduled every 30 s as a backstop: sends what is waiting."""
    return outbox_send_service()
