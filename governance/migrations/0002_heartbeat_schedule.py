"""Beat schedules are data: officers see and change them in the admin. This one proves workers are alive."""

from typing import Any

from django.db import migrations

HEARTBEAT = "worker heartbeat"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15s, _ = IntervalSchedule.objects.get_or_create(every=15, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=HEARTBEAT,
        defaults={
            "task": "governance.tasks.worker_heartbeat",
            "interval": every_15s,
            "description": "Shows that beat, the broker and a worker all run (reported by /healthz).",
            # A heartbeat that waited a minute in the queue proves nothing; let it expire instead of piling up.
            "expire_seconds": 60,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=HEARTBEAT).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
