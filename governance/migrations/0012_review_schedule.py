"""Access reviews run on a beat schedule every minute (cadence, reminders, deadlines): data, like the others."""

from typing import Any

from django.db import migrations

REVIEWS = "access reviews"


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=REVIEWS,
        defaults={
            "task": "governance.tasks.reviews_run",
            "interval": every_minute,
            "description": "Starts access reviews on each charter's cadence, reminds reviewers, and revokes or "
            "escalates what the deadline leaves unanswered.",
            "expire_seconds": 120,
        },
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REVIEWS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0011_access_reviews"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
