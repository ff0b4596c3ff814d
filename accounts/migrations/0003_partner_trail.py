"""Partner admins read and export their own partner's slice of the trail (through the API)."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

GRANTS = {Role.PARTNER_ADMIN: ["audit.view_own_partner_events"]}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles"), ("audit", "0005_exports")]

    operations = [migrations.RunPython(forwards, backwards)]
