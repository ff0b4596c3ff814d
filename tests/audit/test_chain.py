"""The hash chain: sealed in order with signed checkpoints; every kind of tampering found and named by verify."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import chain
from audit.models import Checkpoint, Event
from tests.audit.trail_helpers import insert_sealed, superuser_sql, write


@pytest.fixture
def sealed(db):
    """Twelve events sealed in two passes (two checkpoints with events, one without)."""
    write(7)
    chain.seal()
    write(5, partner="helix")
    chain.seal()
    chain.seal()  # nothing new: a checkpoint all the same
    return list(Event.objects.order_by("chain_seq"))


def damage(**options):
    result = chain.verify(**options)
    assert not result.intact
    return result.damage[0]


def test_sealing_gives_every_event_its_place_and_each_pass_a_signed_checkpoint(sealed):
    assert [event.chain_seq for event in sealed] == list(range(1, 13))
    previous = chain.GENESIS
    for event in sealed:
        body = chain.event_body({name: getattr(event, name) for name in chain.BODY_FIELDS})
        assert event.digest == chain.body_digest(body)
        assert event.chain_hash == chain.link(event.chain_seq, previous, event.digest)
        previous = event.chain_hash
    checkpoints = list(Checkpoint.objects.order_by("number"))
    assert [checkpoint.chain_seq for checkpoint in checkpoints] == [7, 12, 12]  # "nothing happened" is signed too
    assert [checkpoint.number for checkpoint in checkpoints] == [1, 2, 3]
    assert checkpoints[2].previous == chain.signature_digest(checkpoints[1].signature)
    assert checkpoints[-1].chain_hash == previous
    result = chain.verify()
    assert result.intact and result.checked == 12 and result.checkpoints == 3


def test_verify_from_a_later_event_checks_the_rest(sealed):
    result = chain.verify(start=8)
    assert result.intact and result.checked == 5


def test_a_modified_field_is_named(sealed):
    target = sealed[4]
    superuser_sql("UPDATE audit_event SET reason = 'nothing to see' WHERE id = %s", [target.pk])
    found = damage()
    assert (found.kind, found.chain_seq, found.event_id) == ("modified", 5, target.pk)


def test_a_deleted_event_is_named_missing(sealed):
    superuser_sql("DELETE FROM audit_event WHERE id = %s", [sealed[3].pk])
    found = damage()
    assert (found.kind, found.chain_seq) == ("missing", 4)


def test_a_forged_event_inserted_in_the_middle_is_named(sealed):
    # Shift every later event by one and slip a forged, well-formed one into the gap.
    superuser_sql("UPDATE audit_event SET chain_seq = chain_seq + 1000 WHERE chain_seq >= 6")
    superuser_sql("UPDATE audit_event SET chain_seq = chain_seq - 999 WHERE chain_seq >= 1006")
    forged = {name: getattr(sealed[5], name) for name in chain.BODY_FIELDS} | {"id": 10_000, "reason": "forged"}
    insert_sealed(forged, 6, sealed[4].chain_hash)
    found = damage()
    assert (found.kind, found.chain_seq, found.event_id) == ("inserted", 6, 10_000)


def test_two_swapped_events_are_named_reordered(sealed):
    first, second = sealed[2], sealed[3]
    superuser_sql("UPDATE audit_event SET chain_seq = -1 WHERE id = %s", [first.pk])
    superuser_sql("UPDATE audit_event SET chain_seq = 3 WHERE id = %s", [second.pk])
    superuser_sql("UPDATE audit_event SET chain_seq = 4 WHERE id = %s", [first.pk])
    found = damage()
    assert (found.kind, found.chain_seq, found.event_id) == ("reordered", 3, second.pk)


def test_a_truncated_tail_is_named(sealed):
    superuser_sql("DELETE FROM audit_event WHERE chain_seq > 10")
    found = damage()
    assert (found.kind, found.chain_seq) == ("truncated tail", 11)


def test_an_event_appended_past_the_last_checkpoint_is_named_inserted(sealed):
    last = sealed[-1]
    forged = {name: getattr(last, name) for name in chain.BODY_FIELDS} | {"id": 20_000, "reason": "appended"}
    insert_sealed(forged, 13, last.chain_hash)
    assert damage().kind == "inserted"
    with pytest.raises(chain.ChainBrokenError, match="the trail was altered"):
        chain.seal()  # the sealer will not sign over a chain it did not write


def test_an_altered_checkpoint_is_named_bad_signature(sealed):
    superuser_sql("UPDATE audit_checkpoint SET chain_hash = %s WHERE number = 2", ["f" * 64])
    found = damage()
    assert found.kind == "bad signature" and "checkpoint 2 has a signature that does not verify" in found.detail


def test_a_deleted_checkpoint_is_named_missing(sealed):
    superuser_sql("DELETE FROM audit_checkpoint WHERE number = 2")
    found = damage()
    assert found.kind == "missing" and "checkpoint 2 is gone" in found.detail


def test_a_tail_deleted_with_its_checkpoints_is_caught_by_the_anchor(db, django_capture_on_commit_callbacks):
    write(5)
    with django_capture_on_commit_callbacks(execute=True):  # as when the sealer's transaction commits
        chain.seal()
    write(4)
    with django_capture_on_commit_callbacks(execute=True):
        chain.seal()
    assert chain.anchor_last()["number"] == 2
    superuser_sql("DELETE FROM audit_event WHERE chain_seq > 5")
    superuser_sql("DELETE FROM audit_checkpoint WHERE number = 2")  # the database alone now looks whole
    found = damage()
    assert found.kind == "truncated tail" and "checkpoint 2 (chain_seq 9" in found.detail
    with pytest.raises(chain.ChainBrokenError, match="missing in the database"):
        chain.seal()  # and the sealer will not start a new history over it


def test_a_wiped_trail_is_caught_by_the_anchor(db, django_capture_on_commit_callbacks):
    write(3)
    with django_capture_on_commit_callbacks(execute=True):
        chain.seal()
    superuser_sql("DELETE FROM audit_event")
    superuser_sql("DELETE FROM audit_checkpoint")
    write(2)  # a fresh, forged history
    with pytest.raises(chain.ChainBrokenError, match=r"(?i)checkpoint 1 .* is missing in the database"):
        chain.seal()
    assert damage().kind == "truncated tail"


def test_a_deleted_event_with_the_rest_renumbered_is_named_missing(sealed):
    superuser_sql("DELETE FROM audit_event WHERE chain_seq = 5")
    superuser_sql("UPDATE audit_event SET chain_seq = chain_seq + 1000 WHERE chain_seq > 5")
    superuser_sql("UPDATE audit_event SET chain_seq = chain_seq - 1001 WHERE chain_seq > 1000")
    found = damage()
    assert (found.kind, found.chain_seq) == ("missing", 5)


def test_verify_from_past_the_end_or_below_one_is_a_usage_error(sealed):
    with pytest.raises(CommandError, match="starts at 1"):
        call_command("audit", "verify", "--from", "0")
    with pytest.raises(CommandError, match="url-safe base64"):
        call_command("audit", "verify", "--public-key", "not base64 at all!")


def test_a_key_swapped_in_the_database_does_not_vouch_for_itself(sealed, settings):
    honest = chain.signer()
    settings.ACCORD_AUDIT_SIGNING_KEY = "q" * 43  # another installation's key, say
    write(1)
    chain.seal()
    pinned = {honest.key_id: honest.public_key}
    assert chain.verify().intact  # the database publishes both keys
    assert damage(pinned_keys=pinned).kind == "bad signature"


def test_audit_verify_and_seal_on_the_command_line(sealed, capsys):
    call_command("audit", "verify")
    assert "Intact: 12 event(s)" in capsys.readouterr().out
    write(2)
    call_command("audit", "seal")
    assert "Sealed 2 event(s); the chain ends at 14" in capsys.readouterr().out
    superuser_sql("UPDATE audit_event SET actor_label = 'someone else' WHERE chain_seq = 13")
    with pytest.raises(CommandError, match="modified at chain_seq 13"):
        call_command("audit", "verify")


@pytest.mark.postgres
def test_postgresql_refuses_every_change_but_the_sealers(sealed, db):
    if connection.vendor != "postgresql":
        pytest.skip("the triggers are PostgreSQL's")
    event = sealed[0]
    checkpoint = Checkpoint.objects.first()
    for statement, pk in (
        ("UPDATE audit_event SET reason = 'x' WHERE id = %s", event.pk),
        ("UPDATE audit_event SET chain_hash = 'x' WHERE id = %s", event.pk),
        ("DELETE FROM audit_event WHERE id = %s", event.pk),
        ("UPDATE audit_checkpoint SET chain_seq = 0 WHERE id = %s", checkpoint.pk),
        ("UPDATE audit_event SET salt = 'x' WHERE id = %s", event.pk),
        ("DELETE FROM audit_checkpoint WHERE id = %s", checkpoint.pk),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [pk])
    with pytest.raises(DatabaseError, match="inserted unsealed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_event (occurred_at, actor_type, actor_id, actor_label, partner, action, target_type, "
            "target_id, outcome, reason, request_id, details, chain_seq) "
            "VALUES (now(), 'system', '', '', '', 'x', '', '', 'success', '', '', '{}', 99)"
        )
    write(1)
    unsealed = Event.objects.get(chain_seq__isnull=True)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_event SET chain_seq = 13, digest = 'd', chain_hash = 'h', reason = 'x' WHERE id = %s",
            [unsealed.pk],
        )
    assert chain.seal().sealed == 1 and chain.verify().intact
