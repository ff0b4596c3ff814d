"""Incident clocks and the end of destruction grace periods run on beat schedules every minute: data, like the
others, visible and adjustable with them."""

from typing import Any

from django.db import migrations

SCHEDULES = {
    "incident clocks": (
        "governance.tasks.incidents_run",
        "Escalates incident playbook steps past their deadline to the officers, once each, and finishes automatic "
        "steps a lost message left undone.",
    ),
    "exits and destruction": (
        "governance.tasks.destructions_run",
        "Destroys data keys whose grace period has ended, with a certificate each, and closes exits that have "
        "nothing left to wait for.",
    ),
}


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    for name, (task, description) in SCHEDULES.items():
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": every_minute, "description": description, "expire_seconds": 120},
        )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0015_incidents_exits_artefacts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
