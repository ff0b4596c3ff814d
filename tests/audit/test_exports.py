"""Exports: a file and a signed manifest that the standalone verifier checks offline with a pinned key; a
partner's export carries nothing of another partner's events but their digests."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit import chain, exports
from audit.models import Event
from audit.trail import Actor
from tests.audit.test_chain import superuser_sql, write

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_export.py"
BY = Actor.system("export-test")


@pytest.fixture
def trail(db):
    write(6, partner="northwind")
    write(4, partner="helix")
    write(3, partner="northwind")
    chain.seal()
    return chain.encode(chain.signer().public_raw)


def offline(path, *keys):
    """Run the standalone verifier as an auditor would: its own process, the file, and a pinned key."""
    args = [sys.executable, str(VERIFIER), str(path)]
    for key in keys:
        args += ["--public-key", key]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_full_export_verifies_offline(trail, tmp_path, fmt):
    out = tmp_path / f"trail.{fmt}"
    manifest = exports.export(out, fmt=fmt, by=BY)
    assert manifest["count"] == manifest["full"] == 13 and (manifest["first_seq"], manifest["last_seq"]) == (1, 13)
    checked = offline(out, trail)
    assert checked.returncode == 0, checked.stderr
    assert "Intact: 13 rows (chain_seq 1 to 13, 13 in full)" in checked.stdout
    exported = Event.objects.get(action="audit.exported")
    assert exported.details["file_sha256"] == manifest["file_sha256"]


def test_a_partner_export_shows_other_partners_only_as_digests_and_still_verifies(trail, tmp_path):
    out = tmp_path / "northwind.jsonl"
    manifest = exports.export(out, fmt="jsonl", by=BY, partner="northwind")
    assert manifest["full"] == 9 and manifest["count"] == 13
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    others = [row for row in rows if "event" not in row]
    assert len(others) == 4 and all(set(row) == {"chain_seq", "digest", "chain_hash"} for row in others)
    assert "helix" not in out.read_text()  # no field of another partner's events
    assert {row["event"]["partner"] for row in rows if "event" in row} == {"northwind"}
    assert offline(out, trail).returncode == 0


def test_the_verifier_names_what_was_changed(trail, tmp_path):
    out = tmp_path / "trail.jsonl"
    exports.export(out, fmt="jsonl", by=BY)
    good = out.read_bytes()

    out.write_bytes(good.replace(b'"n":2', b'"n":9', 1))
    assert "SHA-256 is not the manifest's" in offline(out, trail).stderr

    manifest = exports.manifest_path(out)
    signed = json.loads(manifest.read_text())
    forged = {**signed, "file_sha256": __import__("hashlib").sha256(out.read_bytes()).hexdigest()}
    manifest.write_text(json.dumps(forged))  # the attacker fixes the hash but cannot sign
    assert "manifest's signature does not verify" in offline(out, trail).stderr

    other = chain.encode(b"\x01" * 32)
    assert "not among the pinned keys" in offline(out, other).stderr


def test_an_event_modified_in_the_database_shows_in_the_export(trail, tmp_path):
    superuser_sql("UPDATE audit_event SET actor_label = 'somebody' WHERE chain_seq = 4")
    out = tmp_path / "trail.csv"
    exports.export(out, fmt="csv", by=BY)
    checked = offline(out, trail)
    assert checked.returncode == 1 and "chain_seq 4" in checked.stderr and "was modified" in checked.stderr


def test_a_deleted_event_shows_in_the_export(trail, tmp_path):
    superuser_sql("DELETE FROM audit_event WHERE chain_seq = 8")
    out = tmp_path / "trail.jsonl"
    exports.export(out, fmt="jsonl", by=BY)
    assert "chain_seq 8 is missing" in offline(out, trail).stderr


def test_an_export_with_nothing_to_export_says_why_and_is_recorded(trail, tmp_path):
    with pytest.raises(exports.ExportError, match="No sealed event matches"):
        exports.export(tmp_path / "x.jsonl", fmt="jsonl", by=BY, partner="nobody")
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
