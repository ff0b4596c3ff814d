"""Exports: a file and a signed manifest that the standalone verifier checks offline with a pinned key; a
partner's export carries nothing of another partner's events but their digests."""

import hashlib
import json
import sys

import pytest
from django.core.management import CommandError, call_command

from audit import chain, exports
from audit.models import Event
from audit.trail import Actor
from tests.audit.trail_helpers import offline, superuser_sql, write

BY = Actor.system("export-test")


@pytest.fixture
def trail(db):
    write(6, partner="northwind")
    write(4, partner="helix")
    write(3, partner="northwind")
    chain.seal()
    return chain.signer().public_key


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_full_export_verifies_offline(trail, tmp_path, fmt):
    out = tmp_path / f"trail.{fmt}"
    manifest = exports.trail_export(out, fmt=fmt, by=BY)
    assert manifest["count"] == manifest["full"] == 13 and (manifest["first_seq"], manifest["last_seq"]) == (1, 13)
    checked = offline(out, trail)
    assert checked.returncode == 0, checked.stderr
    assert "Intact: 13 rows (chain_seq 1 to 13, 13 in full)" in checked.stdout
    exported = Event.objects.get(action="audit.exported")
    assert exported.details["file_sha256"] == manifest["file_sha256"]


def test_a_partner_export_shows_other_partners_only_as_digests_and_still_verifies(trail, tmp_path):
    out = tmp_path / "northwind.jsonl"
    manifest = exports.trail_export(out, fmt="jsonl", by=BY, partner="northwind")
    assert manifest["full"] == 9 and manifest["count"] == 13
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    others = [row for row in rows if "event" not in row]
    assert len(others) == 4 and all(set(row) == {"chain_seq", "digest", "chain_hash"} for row in others)
    assert "helix" not in out.read_text()  # no field of another partner's events
    assert {row["event"]["partner"] for row in rows if "event" in row} == {"northwind"}
    assert offline(out, trail).returncode == 0


def test_the_verifier_names_what_was_changed(trail, tmp_path):
    out = tmp_path / "trail.jsonl"
    exports.trail_export(out, fmt="jsonl", by=BY)
    good = out.read_bytes()

    out.write_bytes(good.replace(b'"n":2', b'"n":9', 1))
    assert "SHA-256 is not the manifest's" in offline(out, trail).stderr

    manifest = exports.manifest_path(out)
    signed = json.loads(manifest.read_text())
    forged = {**signed, "file_sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    manifest.write_text(json.dumps(forged))  # the attacker fixes the hash but cannot sign
    assert "manifest's signature does not verify" in offline(out, trail).stderr

    other = chain.encode(b"\x01" * 32)
    assert "not among the pinned keys" in offline(out, other).stderr


def test_an_event_modified_in_the_database_shows_in_the_export(trail, tmp_path):
    superuser_sql("UPDATE audit_event SET actor_label = 'somebody' WHERE chain_seq = 4")
    out = tmp_path / "trail.csv"
    exports.trail_export(out, fmt="csv", by=BY)
    checked = offline(out, trail)
    assert checked.returncode == 1 and "chain_seq 4" in checked.stderr and "was modified" in checked.stderr


def test_a_deleted_event_shows_in_the_export(trail, tmp_path):
    superuser_sql("DELETE FROM audit_event WHERE chain_seq = 8")
    out = tmp_path / "trail.jsonl"
    exports.trail_export(out, fmt="jsonl", by=BY)
    assert "chain_seq 8 is missing" in offline(out, trail).stderr


def test_an_export_with_nothing_to_export_says_why_and_is_recorded(trail, tmp_path):
    with pytest.raises(exports.ExportError, match="No sealed event matches"):
        exports.trail_export(tmp_path / "x.jsonl", fmt="jsonl", by=BY, partner="nobody")
    failed = Event.objects.get(action="audit.export_failed")
    assert failed.outcome == "failure" and "No sealed event" in failed.reason
    assert not (tmp_path / "x.jsonl").exists()


def test_audit_export_on_the_command_line(trail, tmp_path, capsys):
    out = tmp_path / "trail.jsonl"
    call_command("audit", "export", "--format", "jsonl", "--out", str(out), "--partner", "helix")
    assert "Wrote 7 event(s) (4 in full)" in capsys.readouterr().out  # from its first event to the checkpoint
    assert offline(out, trail).returncode == 0
    with pytest.raises(CommandError, match="takes an ISO time"):
        call_command("audit", "export", "--out", str(out), "--since", "last tuesday")
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("audit", "export", "--out", str(tmp_path / "nowhere" / "x.jsonl"))


def test_the_verifier_needs_only_the_standard_library_and_cryptography():
    import ast

    from tests.audit.trail_helpers import VERIFIER

    tree = ast.parse(VERIFIER.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_a_csv_export_keeps_control_characters_inside_their_cells(db, tmp_path):
    from django.db import transaction

    from audit.trail import record

    with transaction.atomic():
        record(action="auth.login_failed", actor=Actor.anonymous(label='a\rb\nc,d"e'), reason="tab\there")
    chain.seal()
    out = tmp_path / "trail.csv"
    exports.trail_export(out, fmt="csv", by=BY)
    assert offline(out, chain.signer().public_key).returncode == 0


def test_the_verifier_says_what_to_give_on_bad_usage(trail, tmp_path):
    assert offline(tmp_path / "nothing.jsonl", trail).returncode == 2
    out = tmp_path / "trail.jsonl"
    exports.trail_export(out, fmt="jsonl", by=BY)
    bad_key = offline(out, "short")
    assert bad_key.returncode == 2 and "Ed25519 public key" in bad_key.stderr


def test_the_verifier_hashes_events_exactly_as_the_chain_does():
    """The standalone verifier cannot import the project, so it keeps its own copy of the event's fields and of
    the canonical form: they must stay the same."""
    import importlib.util

    from tests.audit.trail_helpers import VERIFIER

    spec = importlib.util.spec_from_file_location("verify_export", VERIFIER)
    verifier = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verifier)
    assert tuple(verifier.BODY_FIELDS) == chain.BODY_FIELDS
    sample = {"é": [1, 2.5, None], "a": {"z": "\r\n", "b": True}}
    assert verifier.canonical(sample) == chain.canonical(sample)


def test_a_pinned_key_that_starts_with_a_dash_is_read_as_a_key(tmp_path):
    # One url-safe base64 key in 64 starts with "-": passed as "--public-key=KEY" it is a key, not an option.
    result = offline(tmp_path / "trail.jsonl", "-" + "A" * 42)
    assert result.returncode != 0 and "expected one argument" not in result.stderr, result.stderr
