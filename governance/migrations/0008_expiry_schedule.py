"""Expiry runs on a beat schedule every 30 seconds, so that a grant or charter past its window is expired within a
minute: data, like the other schedules."""

from typing import Any

from django.db import migrations

EXPIRY = "expiry"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_30s, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=EXPIRY,
        defaults={
            "task": "governance.tasks.expiry_run",
            "interval": every_30s,
            "description": "Expires grants past their window, and charters past theirs with their grants.",
            # The next run expires whatever a late one would have: let a stale run expire.
            "expire_seconds": 60,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=EXPIRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0007_whatif_run"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
