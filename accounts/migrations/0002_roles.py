"""The four roles as groups, with what they may do to people, tokens and the trail."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

GRANTS = {
    Role.OFFICER: [
        "accounts.view_organisation",
        "accounts.add_organisation",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.view_apitoken",
        "accounts.add_apitoken",
        "accounts.change_apitoken",
        "audit.view_event",
    ],
    Role.AUDITOR: ["accounts.view_organisation", "accounts.view_user", "accounts.view_apitoken", "audit.view_event"],
    Role.PARTNER_ADMIN: [
        "accounts.view_user",
        "accounts.view_apitoken",
        "accounts.add_apitoken",
        "accounts.change_apitoken",
    ],
    Role.PARTNER_PRINCIPAL: [],
}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})
    apps.get_model("auth", "Group").objects.filter(name__in=[str(role) for role in GRANTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
