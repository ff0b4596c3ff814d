"""The beat schedule of the attestation keys fetch: every 10 minutes, each verifier's jwks_url into the cache."""

from typing import Any

from django.db import migrations

NAME = "attestation keys fetch"
TASK = "governance.tasks.attestation_keys_fetch"
DESCRIPTION = "Fetches the signing keys (JWKS) of each attestation verifier given by jwks_url into the cache."


def forwards(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=600, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every_ten_minutes, "description": DESCRIPTION, "expire_seconds": 300},
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0025_attestation_nonces"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
