"""What each role may do with the asset registry (tenant scoping is applied on top, in charters.access)."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

GRANTS = {
    Role.OFFICER: [
        "charters.view_asset",
        "charters.add_asset",
        "charters.change_asset",
        "charters.view_assetversion",
        "charters.add_assetversion",
    ],
    Role.AUDITOR: ["charters.view_asset", "charters.view_assetversion"],
    Role.PARTNER_ADMIN: ["charters.view_asset", "charters.view_assetversion"],
}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


class Migration(migrations.Migration):
    dependencies = [("charters", "0001_initial"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
