"""On PostgreSQL, the trail is append-only in the database itself.

- An event is inserted unsealed, stamped with its transaction's id (the sealer seals only below the oldest
  transaction still running, so commit order cannot make it skip an event).
- DELETE is refused.
- UPDATE is refused except the sealer's single write of the chain fields onto an unsealed row: null to value,
  every other column unchanged.
- Checkpoints, signing keys and evidence bundles refuse UPDATE and DELETE.

A superuser can still disable triggers: the hash chain and the signed checkpoints, not these, prove integrity.
SQLite (the embedded first-look mode) has no such triggers; the application has no code path that edits events.
"""

from django.db import migrations

EVENT_GUARD = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.chain_seq IS NOT NULL OR NEW.digest IS NOT NULL OR NEW.chain_hash IS NOT NULL THEN
      RAISE EXCEPTION 'audit_event: an event is inserted unsealed; only the sealer seals it';
    END IF;
    NEW.txid := pg_current_xact_id()::text::bigint;
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
CREATE TRIGGER audit_event_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_guard();

CREATE OR REPLACE FUNCTION audit_frozen_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: rows cannot be changed or deleted', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_frozen_guard();
CREATE TRIGGER audit_signing_key_append_only BEFORE UPDATE OR DELETE ON audit_signing_key
  FOR EACH ROW EXECUTE FUNCTION audit_frozen_guard();
CREATE TRIGGER audit_evidence_bundle_append_only BEFORE UPDATE OR DELETE ON audit_evidence_bundle
  FOR EACH ROW EXECUTE FUNCTION audit_frozen_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_signing_key_append_only ON audit_signing_key;
DROP TRIGGER IF EXISTS audit_evidence_bundle_append_only ON audit_evidence_bundle;
DROP FUNCTION IF EXISTS audit_event_guard();
DROP FUNCTION IF EXISTS audit_frozen_guard();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain")]

    operations = [migrations.RunPython(_on_postgresql(EVENT_GUARD), _on_postgresql(DROP))]
