"""Officers and auditors see anomaly findings, access reviews and the mail outbox in the admin, read-only."""

from typing import Any

from django.db import migrations

from accounts.roles import Role, grant_permissions, revoke_permissions

RECORDS = ["governance.view_anomalyfinding", "governance.view_reviewcampaign", "governance.view_outboxmessage"]
GRANTS = {str(Role.OFFICER): RECORDS, str(Role.AUDITOR): RECORDS}


def forwards(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, GRANTS)


def backwards(apps: Any, schema_editor: Any) -> None:
    revoke_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0013_outbox_claims"), ("accounts", "0003_partner_trail")]

    operations = [migrations.RunPython(forwards, backwards)]
