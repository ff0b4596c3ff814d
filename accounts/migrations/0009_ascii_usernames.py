"""Usernames are ASCII: they appear in URLs, the trail and logs, and the OpenAPI pattern (JSON Schema's \\w is
ASCII) promised it while Django's default validator took any Unicode letter (schemathesis found a principal
named "ûã"). Existing names are left as they are; only new and changed ones are checked."""

import django.contrib.auth.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_token_scopes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="username",
            field=models.CharField(
                error_messages={"unique": "A user with that username already exists."},
                help_text="150 characters or fewer: ASCII letters, digits and @ . + - _ only.",
                max_length=150,
                unique=True,
                validators=[django.contrib.auth.validators.ASCIIUsernameValidator()],
                verbose_name="username",
            ),
        ),
    ]
