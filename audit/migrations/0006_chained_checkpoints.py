"""Checkpoints are numbered and each names the previous one's signature, so a removed checkpoint shows; events get
a random salt covered by their digest; the sealer no longer needs the inserting transaction's id."""

from typing import Any

from django.db import migrations, models

import audit.models

EVENT_GUARD = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.chain_seq IS NOT NULL OR NEW.digest IS NOT NULL OR NEW.chain_hash IS NOT NULL THEN
      RAISE EXCEPTION 'audit_event: an event is inserted unsealed; only the sealer seals it';
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit_event is append-only: events cannot be deleted';
  END IF;
  IF OLD.chain_seq IS NOT NULL OR OLD.digest IS NOT NULL OR OLD.chain_hash IS NOT NULL
     OR NEW.chain_seq IS NULL OR NEW.digest IS NULL OR NEW.chain_hash IS NULL
     OR (to_jsonb(OLD) - 'chain_seq' - 'digest' - 'chain_hash')
        IS DISTINCT FROM (to_jsonb(NEW) - 'chain_seq' - 'digest' - 'chain_hash') THEN
    RAISE EXCEPTION 'audit_event is append-only: the only change allowed is the sealer''s write of the chain fields onto an unsealed event';
  END IF;
  RETURN NEW;
END $$;
"""


def guard_without_txid(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(EVENT_GUARD, params=None)


def number_checkpoints(apps: Any, schema_editor: Any) -> None:
    """Checkpoints written before numbering get their order as their number (a development database only)."""
    Checkpoint = apps.get_model("audit", "Checkpoint")
    ids = list(Checkpoint.objects.order_by("id").values_list("id", flat=True))
    if not ids:
        return
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute("ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_checkpoint_append_only", params=None)
    for number, pk in enumerate(ids, start=1):
        Checkpoint.objects.filter(pk=pk).update(number=number)
    if postgresql:
        schema_editor.execute("ALTER TABLE audit_checkpoint ENABLE TRIGGER audit_checkpoint_append_only", params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_exports")]

    operations = [
        migrations.RunPython(guard_without_txid, migrations.RunPython.noop),
        migrations.RemoveField(model_name="event", name="txid"),
        migrations.AddField(
            model_name="event",
            name="salt",
            field=models.CharField(default=audit.models.new_salt, editable=False, max_length=32),
        ),
        migrations.AddField(model_name="checkpoint", name="number", field=models.BigIntegerField(null=True)),
        migrations.AddField(
            model_name="checkpoint",
            name="previous",
            field=models.CharField(
                default="", help_text="SHA-256 of the previous checkpoint's signature.", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.RunPython(number_checkpoints, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="checkpoint",
            name="number",
            field=models.BigIntegerField(help_text="1, 2, 3…: a missing checkpoint leaves a gap.", unique=True),
        ),
    ]
