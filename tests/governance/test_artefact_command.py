"""`manage.py artefact`: store, list, read, destroy and cancel from a terminal, with messages that say what to do."""

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.services import actor_for
from governance.exits.services import exit_run, exit_start
from governance.models import Artefact, DataKey, ExitItem
from tests.helpers import second_officer_confirming


@pytest.fixture(autouse=True)
def _a_second_officer_confirms() -> Iterator[None]:
    """These tests are of the act; a second officer's confirmation of it is tests/accounts/test_proposals.py's."""
    with second_officer_confirming("charter_end"):
        yield


def run(*args):
    out = StringIO()
    call_command("artefact", *args, stdout=out)
    return out.getvalue()


def test_a_file_goes_in_encrypted_and_comes_back_out(tmp_path, demo_registry, partner_a):
    source = tmp_path / "eval.jsonl"
    source.write_bytes(b'{"prompt": "hello"}\n' * 1000)
    said = run("store", str(source), "--kind", "delivery", "--asset", "atlas-7b:1.0", "--partner", partner_a.slug)
    artefact = Artefact.objects.get()
    assert artefact.uid in said and artefact.data_key.key_id in said and "20,000 bytes" in said
    assert artefact.uid in run("list")
    out = tmp_path / "back.jsonl"
    run("read", artefact.uid, "--out", str(out))
    assert out.read_bytes() == source.read_bytes()

    key = artefact.data_key.key_id
    assert "will be destroyed after" in run("destroy", key, "--reason", "Delivery withdrawn.")
    assert DataKey.objects.get().status == "pending_destruction"
    assert "is kept" in run("cancel", key, "--reason", "Still needed.")
    assert DataKey.objects.get().status == "active"


def test_bad_input_says_what_to_give(tmp_path, demo_registry, partner_a):
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    with pytest.raises(CommandError, match="give NAME:LABEL"):
        run("store", str(source), "--kind", "delivery", "--asset", "atlas-7b:9.9", "--partner", partner_a.slug)
    with pytest.raises(CommandError, match="No partner 'nobody'"):
        run("store", str(source), "--kind", "delivery", "--asset", "atlas-7b:1.0", "--partner", "nobody")
    with pytest.raises(CommandError, match="Name the partner"):
        run("store", str(source), "--kind", "delivery", "--asset", "atlas-7b:1.0")
    with pytest.raises(CommandError, match="is not a file"):
        run("store", str(tmp_path / "missing"), "--kind", "asset_file", "--asset", "atlas-7b:1.0")
    with pytest.raises(CommandError, match="No data key"):
        run("cancel", "nope", "--reason", "x")
    run("store", str(source), "--kind", "asset_file", "--asset", "atlas-7b:1.0")
    key = DataKey.objects.get().key_id
    run("destroy", key, "--reason", "Gone.")
    with pytest.raises(CommandError, match="only an active key"):
        run("destroy", key, "--reason", "Gone again.")
    assert Artefact.objects.count() == 1


def test_cancelling_an_exits_destruction_from_a_terminal_settles_its_line_at_once(
    live_charter, northwind_holdings, officer
):
    exit_ = exit_run(exit_start(charter=live_charter.charter, by=actor_for(officer), reason="Study over.").pk)
    key = DataKey.objects.get(pk=northwind_holdings["model"].data_key_id)
    assert "is kept" in run("cancel", key.key_id, "--reason", "Legal hold.")
    line = exit_.items.get(keys=key)
    assert line.status == ExitItem.Status.KEPT
    assert line.note == "Destruction cancelled by manage.py artefact: Legal hold."
    assert line.done_by == "manage.py artefact"
