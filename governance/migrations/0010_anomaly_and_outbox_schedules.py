"""Anomaly checks every minute and the outbox every 30 seconds: data, like the other schedules."""

from typing import Any

from django.db import migrations

SCHEDULES = {
    "anomaly checks": (
        "governance.tasks.anomalies_check",
        60,
        "Checks each active grant's recent use against its charter's misuse rules; a finding suspends the grant.",
    ),
    "outbox": (
        "governance.tasks.outbox_send",
        30,
        "Sends the mail waiting in the outbox (a backstop: each message is also queued when written).",
    ),
}


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, seconds, description) in SCHEDULES.items():
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": every, "description": description, "expire_seconds": seconds * 2},
        )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0009_outbox_and_findings"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
