"""Tasks queued by a transaction reach a worker even when the broker is down at the moment of commit.

``task_queue()`` takes the task object (``from governance.tasks import exit_run``, imported where it is queued),
writes its registered name into ``audit_queued_task`` in the caller's transaction (so a rolled-back job
queues nothing) and sends it once the transaction commits; the row goes when the broker has the message. When
the send fails (the broker is down or silent: it gives up after its socket timeout, without retries, so the
request that queued it is not held), the row stays, and ``queued_tasks_send()`` — run by beat every 10 seconds —
sends it when the broker is back.

At least once, not exactly once: a send that reached the broker just before the database lost the deletion is sent
again. Every task queued this way is idempotent (a redelivered job finds its work done or starts it over).

The mechanism lives here, in the lowest app, because the trail's exports use it and audit imports no other app;
governance's jobs (what-if runs, exits, incidents) use it too.
"""

from __future__ import annotations

import functools
import inspect
import logging
from datetime import timedelta
from typing import Any

from celery import Task, current_app
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import QueuedTask

logger = logging.getLogger(__name__)

# A row this young may still be on its way to the broker from the transaction that queued it.
SWEEP_AFTER = timedelta(seconds=10)
SWEEP_BATCH = 100


def task_queue(task: Task[..., Any], args: list[Any]) -> QueuedTask:
    """Queue ``task`` with ``args`` (plain JSON: ids, not objects) for when the caller's transaction commits.
    TypeError at once when the task does not take these arguments."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("task_queue() must run inside the transaction that makes the job.")
    # Here, in the transaction that makes the job, rather than in a worker after it committed.
    inspect.signature(task.run).bind(*args)
    queued = QueuedTask.objects.create(task=task.name, args=args)
    transaction.on_commit(functools.partial(_send_committed, queued.pk, task, args), robust=True)
    return queued


def _send_committed(pk: int, task: Task[..., Any], args: list[Any]) -> None:
    try:
        # No publish retries: a broker that is down costs the caller one connection attempt; the sweeper retries.
        task.apply_async(args=tuple(args), retry=False)
    except Exception as error:  # the broker refused, timed out or is misconfigured: the row stays for the sweeper
        logger.warning(
            "Could not queue %s%s now (%s); it is sent when the broker answers again", task.name, args, error
        )
        QueuedTask.objects.filter(pk=pk).update(attempts=F("attempts") + 1, last_error=str(error)[:500])
        return
    try:
        QueuedTask.objects.filter(pk=pk).delete()
    except DatabaseError as error:
        # The broker has it; the sweeper will send it once more, which the task tolerates.
        logger.warning("Queued %s%s, but could not note it (%s)", task.name, args, error)


def queued_tasks_send(*, now: Any = None) -> int:
    """Send every task whose transaction committed but whose message the broker did not take; the number sent.
    Stops at the first refusal (the broker is still away: the next run tries again). Two sweepers never send
    the same row: each locks what it sends and skips what another holds."""
    cutoff = (now or timezone.now()) - SWEEP_AFTER
    sent = 0
    while True:
        with transaction.atomic():
            batch = list(
                QueuedTask.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=cutoff)
                .order_by("id")[:SWEEP_BATCH]
            )
            if not batch:
                return sent
            for queued in batch:
                try:
                    # The row holds the task's registered name (kept stable for rows and beat schedules written
                    # by earlier releases), so it is sent by that name; no publish retries, as above.
                    current_app.send_task(queued.task, args=queued.args, retry=False)
                except Exception as error:  # broker still down
                    QueuedTask.objects.filter(pk=queued.pk).update(
                        attempts=F("attempts") + 1, last_error=str(error)[:500]
                    )
                    logger.warning("The broker still refuses queued tasks (%s); %d sent this run", error, sent)
                    return sent
                queued.delete()
                sent += 1


def queued_tasks_waiting() -> dict[str, Any]:
    """How many committed tasks wait for the broker, and for how long the oldest has (for /healthz)."""
    oldest = QueuedTask.objects.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "waiting": QueuedTask.objects.count(),
        "oldest_seconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else None,
    }
