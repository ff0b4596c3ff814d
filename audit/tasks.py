"""Celery tasks of the trail: thin, each calls a function of the audit app. Those that retry use the one retry
policy (accord/celery.py)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from accord.celery import RetryingTask
from audit import chain, dispatch, exports

logger = logging.getLogger(__name__)


# Any error, not only the database's: signing and the anchor file (outside the database) can fail too.
@shared_task(name="audit.tasks.audit_seal", base=RetryingTask, autoretry_for=(Exception,))
def audit_seal() -> int:
    """Scheduled by beat every few seconds: seal new events with a signed checkpoint (and a quiet trail's
    checkpoint once a minute). Safe to run twice at once or again after a crash: sealers take turns on a lock,
    and an event is sealed once (the update only touches unsealed events). An altered chain is not retried."""
    try:
        result = chain.seal(quiet_interval=settings.ACCORD_AUDIT_QUIET_CHECKPOINT_SECONDS)
    except chain.ChainBrokenError:
        # Never sign over an altered chain; say so loudly, every run, until an operator looks.
        logger.critical("The audit trail was altered; sealing stopped. Run `manage.py audit verify`.", exc_info=True)
        raise
    return result.sealed


@shared_task(name="audit.tasks.audit_export", acks_late=True)
def audit_export(job_id: str) -> str:
    """Queued when someone asks for an export; a redelivered run starts over, a finished one is left alone."""
    return exports.export_run(job_id).status


@shared_task(name="audit.tasks.queued_tasks_send", base=RetryingTask)
def queued_tasks_send() -> int:
    """Scheduled by beat every 10 s: sends the jobs that committed while the broker was down. Two runs at once
    never send the same job (each locks what it sends)."""
    return dispatch.queued_tasks_send()
