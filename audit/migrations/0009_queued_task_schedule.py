"""Tasks that committed while the broker was down are sent every 10 seconds (audit/dispatch.py): a schedule
officers see with the others."""

from typing import Any

from django.db import migrations

SWEEPER = "queued tasks the broker missed"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_10s, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=SWEEPER,
        defaults={
            "task": "audit.tasks.queued_tasks_send",
            "interval": every_10s,
            "description": "Sends the jobs (exports, what-if runs, exits, incidents) whose transaction committed "
            "while the broker could not be reached.",
            # The next run sends whatever a stale one would have.
            "expire_seconds": 30,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEPER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0008_queued_tasks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
