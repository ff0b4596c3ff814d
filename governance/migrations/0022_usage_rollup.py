"""The usage roll-up: its counts, its place in the trail's chain (starting from the beginning, so the first runs
count the history already sealed), and its beat schedule, every minute."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

NAME = "usage rollup"
TASK = "governance.tasks.usage_rollup"
DESCRIPTION = "Counts the decisions sealed since the last run into the usage roll-up (per minute, hour and day)."


def forwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("governance", "UsageRollupCursor").objects.get_or_create(name="decisions")
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
        ("governance", "0021_proposal_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageRollupCursor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=32, unique=True)),
                ("chain_seq", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="UsageCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "interval",
                    models.CharField(choices=[("minute", "Minute"), ("hour", "Hour"), ("day", "Day")], max_length=8),
                ),
                ("start", models.DateTimeField(help_text="The interval's first instant (UTC).")),
                (
                    "key",
                    models.CharField(
                        help_text="The SHA-256 of the fields below that name the kind counted.", max_length=64
                    ),
                ),
                ("partner", models.CharField(max_length=64)),
                (
                    "principal",
                    models.CharField(help_text="The asking principal's id, as the trail names actors.", max_length=64),
                ),
                ("principal_label", models.CharField(max_length=150)),
                ("asset", models.CharField(help_text="The asset version's fingerprint, as asked.", max_length=64)),
                ("action", models.CharField(max_length=64)),
                ("allowed", models.BooleanField()),
                (
                    "code",
                    models.CharField(blank=True, help_text="A deny's reason code; empty for allows.", max_length=64),
                ),
                ("count", models.PositiveBigIntegerField(default=0)),
                (
                    "grant",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="governance.grant",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["interval", "partner", "start"], name="usage_partner_idx"),
                    models.Index(fields=["interval", "grant", "start"], name="usage_grant_idx"),
                    models.Index(fields=["interval", "principal", "start"], name="usage_principal_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("interval", "start", "key"), name="usage_count_one_row_per_kind")
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
