"""The sealer runs on a beat schedule every 5 seconds: data that officers see with the other schedules."""

from typing import Any

from django.db import migrations

SEALER = "audit trail sealing"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5s, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=SEALER,
        defaults={
            "task": "audit.tasks.audit_seal",
            "interval": every_5s,
            "description": "Seals new audit events into the hash chain and writes a signed checkpoint, even when "
            "nothing happened.",
            # A late run seals whatever a stale one would have: let the stale one expire.
            "expire_seconds": 30,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SEALER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_append_only_triggers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
