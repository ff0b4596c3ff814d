"""Officers and auditors can see the beat schedules (and the trail) in the admin, read-only."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

SCHEDULES = [
    "django_celery_beat.view_periodictask",
    "django_celery_beat.view_intervalschedule",
    "django_celery_beat.view_crontabschedule",
    "django_celery_beat.view_clockedschedule",
    "django_celery_beat.view_solarschedule",
]
GRANTS = {str(Role.OFFICER): SCHEDULES, str(Role.AUDITOR): SCHEDULES}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, GRANTS)


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_heartbeat_schedule"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
