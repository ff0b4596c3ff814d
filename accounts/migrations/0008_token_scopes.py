"""Token scopes designed once: ``full`` and ``exit`` become space-separated scopes (accounts/scopes.py). A full
token gets what its owner's role gets by default (principals: decide; people: manage and read_audit; partner
admins too); a token an exit narrowed keeps ``exit``."""

from typing import Any

from django.db import migrations, models

DEFAULTS = {
    "partner_principal": "decide",
    "partner_admin": "manage read_audit",
    "governance_officer": "manage read_audit",
    "auditor": "manage read_audit",
}


def forwards(apps: Any, schema_editor: Any) -> None:
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.select_related("user").iterator():
        if token.scopes == "exit":
            continue
        roles = set(token.user.groups.values_list("name", flat=True))
        scopes = sorted({word for role in roles for word in DEFAULTS.get(role, "").split()})
        ApiToken.objects.filter(pk=token.pk).update(scopes=" ".join(scopes))


def backwards(apps: Any, schema_editor: Any) -> None:
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.exclude(scopes="exit").update(scopes="full")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_proposals")]

    operations = [
        migrations.RenameField("apitoken", "scope", "scopes"),
        migrations.AlterField(
            model_name="apitoken",
            name="scopes",
            field=models.CharField(
                max_length=100,
                help_text="What the token may be used for, space-separated (accounts/scopes.py); an exit narrows a "
                "partner admin's tokens to 'exit'.",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
