"""What the operators' checks read: the workers' heartbeats."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task that beat schedules: proof that beat, the
    broker and the worker all work. Reported by /healthz as information."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
