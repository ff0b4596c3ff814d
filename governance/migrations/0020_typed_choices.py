"""The closed vocabularies become choices (charters/vocabulary.py): state only, the stored words do not change."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0019_exit_owns_key_links"),
    ]

    operations = [
        migrations.AlterField(
            model_name="anomalyfinding",
            name="rule",
            field=models.CharField(
                choices=[
                    ("usage_spike", "Usage spike"),
                    ("outside_window", "Use outside the validity window"),
                    ("denied_exports", "Denied exports"),
                    ("new_client_address", "New client address"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="anomalyfinding",
            name="severity",
            field=models.CharField(
                choices=[("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="exititem",
            name="disposition",
            field=models.CharField(
                choices=[("retain", "Retain"), ("migrate", "Migrate"), ("destroy", "Destroy")], max_length=16
            ),
        ),
        migrations.AlterField(
            model_name="incidentstep",
            name="automatic",
            field=models.CharField(
                blank=True,
                choices=[
                    ("suspend_grants", "Suspend the partner's grants"),
                    ("preserve_evidence", "Preserve the evidence"),
                    ("notify", "Notify"),
                ],
                help_text="Blank: a step people do.",
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="reviewcampaign",
            name="trigger",
            field=models.CharField(
                choices=[("cadence", "On the charter's cadence"), ("on_demand", "On demand")], max_length=16
            ),
        ),
        migrations.AlterField(
            model_name="reviewcampaign",
            name="unanswered",
            field=models.CharField(
                choices=[("revoke", "Revoke"), ("escalate", "Escalate to the officers")],
                help_text="What the deadline does to an unanswered item.",
                max_length=16,
            ),
        ),
    ]
