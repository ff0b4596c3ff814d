"""What each role may do with charters (tenant scoping is applied on top, in charters.access)."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

VIEW = [
    "charters.view_charter",
    "charters.view_charterversion",
    "charters.view_incidentplaybook",
    "charters.view_exitplan",
    "charters.view_charteracknowledgement",
]
GRANTS = {
    Role.OFFICER: [
        *VIEW,
        "charters.add_charter",
        "charters.change_charter",
        "charters.add_charterversion",
        "charters.add_incidentplaybook",
    ],
    Role.AUDITOR: VIEW,
    Role.PARTNER_ADMIN: [*VIEW, "charters.add_charteracknowledgement"],
}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, {str(role): perms for role, perms in GRANTS.items()})


class Migration(migrations.Migration):
    dependencies = [("charters", "0003_charters")]

    operations = [migrations.RunPython(forwards, backwards)]
