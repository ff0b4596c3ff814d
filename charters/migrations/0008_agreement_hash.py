"""Charters keep host-only terms apart from the agreement the partner accepts: each version gets the hash of its
agreement, and each acceptance says what its hash covers. Acceptances made before this stay as they were (their
hash covers the whole version), since they are what the partner was shown and accepted."""

import hashlib
import json

from django.db import migrations, models


def _agreement_hash(document, exit_plan):
    # A frozen copy of charters.documents.agreement_of and content_hash as they are at this migration.
    agreement = json.loads(json.dumps({**document, "exit_plan": exit_plan}))
    for rule in agreement.get("misuse", []):
        rule.pop("params", None)
    for section in ("incident_response", "playbook"):
        if isinstance(agreement.get(section), dict):
            agreement[section].pop("notify", None)
    canonical = json.dumps(agreement, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def hash_agreements(apps, schema_editor):
    CharterVersion = apps.get_model("charters", "CharterVersion")
    ExitPlan = apps.get_model("charters", "ExitPlan")
    plans = {plan.version_id: plan for plan in ExitPlan.objects.all()}
    for version in CharterVersion.objects.all():
        plan = plans.get(version.pk)
        exit_plan = (
            {
                "items": plan.items,
                "outputs_owner": plan.outputs_owner,
                "knowledge_transfer": plan.knowledge_transfer,
                "partner_attests_destruction": plan.partner_attests_destruction,
            }
            if plan is not None
            else {}
        )
        CharterVersion.objects.filter(pk=version.pk).update(agreement_hash=_agreement_hash(version.document, exit_plan))


class Migration(migrations.Migration):
    dependencies = [
        ("charters", "0007_knowledge_transfer_optional"),
    ]

    operations = [
        migrations.AddField(
            model_name="charterversion",
            name="agreement_hash",
            field=models.CharField(
                default="",
                help_text="SHA-256 of the canonical JSON of the agreement: the version without its host-only terms "
                "(charters/documents.py agreement_of). What the partner reads and accepts.",
                max_length=64,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="charteracknowledgement",
            name="covers",
            field=models.CharField(
                choices=[
                    ("agreement", "The agreement (the version without its host-only terms)"),
                    ("version", "The whole version (acceptances made before charters had host-only terms)"),
                ],
                default="version",
                help_text="What content_hash is the hash of: the agreement, or for older acceptances the whole "
                "version.",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="charteracknowledgement",
            name="covers",
            field=models.CharField(
                choices=[
                    ("agreement", "The agreement (the version without its host-only terms)"),
                    ("version", "The whole version (acceptances made before charters had host-only terms)"),
                ],
                default="agreement",
                help_text="What content_hash is the hash of: the agreement, or for older acceptances the whole "
                "version.",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="charteracknowledgement",
            name="content_hash",
            field=models.CharField(help_text="The hash of what was accepted (see covers).", max_length=64),
        ),
        migrations.RunPython(hash_agreements, migrations.RunPython.noop),
    ]
