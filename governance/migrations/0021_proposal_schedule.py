"""Proposals that no second officer confirmed in time lapse on a beat schedule every minute: data, like the other
schedules, so operators can see and pause it in the admin."""

from typing import Any

from django.db import migrations

NAME = "proposals lapse"
TASK = "governance.tasks.proposals_lapse"
DESCRIPTION = "Marks proposals past ACCORD_PROPOSAL_HOURS as lapsed, with an event each."


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every_minute, "description": DESCRIPTION, "expire_seconds": 120},
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0020_typed_choices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
