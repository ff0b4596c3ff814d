"""The policy bundle recorder runs on a beat schedule: data, like the other schedules."""

from typing import Any

from django.db import migrations

RECORDER = "policy bundles"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_10s, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=RECORDER,
        defaults={
            "task": "governance.tasks.policy_bundles_record",
            "interval": every_10s,
            "description": "Records a policy bundle for each change of the compiled policy since the last run.",
            # The next run records whatever a late one would have: let a stale run expire.
            "expire_seconds": 60,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RECORDER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0005_policy_bundles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
