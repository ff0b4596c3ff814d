"""The hash chain over the trail: sealing events in order, signed checkpoints, and verifying both.

Each event's ``digest`` is the SHA-256 of its canonical JSON (``event_body``, which includes a random salt); its
``chain_hash`` is the SHA-256 of its ``chain_seq``, the previous event's chain hash and its digest. An event can
therefore be shown as its digest alone and the chain still checks: that is how a partner's export covers other
partners' events, and the salt keeps such a digest from being confirmed by guessing the event.

Events are inserted freely and sealed later by one sealer at a time (``seal``), which takes every committed
unsealed event, whatever its id: an event committed late is sealed by a later pass, never skipped, so the chain's
order is the sealing order, not the id order. Every batch the sealer commits carries a signed checkpoint over its
last event, in the same transaction, so every sealed event is covered by a checkpoint. Checkpoints are numbered and
each names the previous one's signature, and each is also appended to a file outside the database (the anchor):
removing checkpoints and events from the database shows, in ``verify`` and to the sealer, which then refuses to
sign over it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import Checkpoint, Event, SigningKey

GENESIS = "0" * 64
SEAL_BATCH = 5000
# A fixed key for PostgreSQL's advisory lock that keeps two sealers apart.
SEALER_LOCK = 7_310_552_417
BODY_FIELDS = (
    "id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "partner",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason",
    "request_id",
    "client_address",
    "details",
    "salt",
)


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that digests and signatures cover."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_body(row: dict[str, Any]) -> dict[str, Any]:
    """An event as JSON values: what its digest covers and what an export writes."""
    body = {name: row[name] for name in BODY_FIELDS}
    occurred_at = body["occurred_at"]
    if isinstance(occurred_at, datetime):
        # SQLite hands raw SQL a naive time, which Django stored in UTC.
        aware = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        body["occurred_at"] = aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(body["details"], str):  # raw SQL on SQLite hands JSON back as text
        body["details"] = json.loads(body["details"])
    return body


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def link(chain_seq: int, previous: str, digest: str) -> str:
    return hashlib.sha256(f"{chain_seq}:{previous}:{digest}".encode()).hexdigest()


def signature_digest(signature: str) -> str:
    """What the next checkpoint names as its ``previous``."""
    return hashlib.sha256(signature.encode()).hexdigest()


# --- Keys -------------------------------------------------------------------------------------------------


def decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:32]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_key(self) -> str:
        return encode(self.public_raw)

    def sign(self, statement: dict[str, Any]) -> str:
        return encode(self.private.sign(canonical(statement)))


def signer() -> Signer:
    """The configured signing key (ACCORD_AUDIT_SIGNING_KEY)."""
    private = Ed25519PrivateKey.from_private_bytes(decode(settings.ACCORD_AUDIT_SIGNING_KEY))
    return Signer(private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def signer_publish() -> Signer:
    """The signing key, with its public half in the keys table (kept after a rotation, so old checkpoints verify)."""
    key = signer()
    SigningKey.objects.get_or_create(key_id=key.key_id, defaults={"public_key": key.public_key})
    return key


def signature_valid(statement: dict[str, Any], signature: str, public_key: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(decode(public_key)).verify(decode(signature), canonical(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- The anchor: checkpoints outside the database -----------------------------------------------------------


def anchor_path() -> Path:
    return Path(settings.ACCORD_AUDIT_ANCHOR_FILE)


def anchor_last(path: Path | None = None) -> dict[str, Any] | None:
    """The last checkpoint written to the anchor file; None when there is none."""
    path = path or anchor_path()
    if not path.exists():
        return None
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # sealers in several processes append to it
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 16384))
        lines = handle.read().splitlines()
    for line in reversed(lines):
        try:
            found = json.loads(line)
        except ValueError:
            continue  # the first line of the window may be cut
        if isinstance(found, dict) and "number" in found:
            return found
    return None


def _anchor_append(checkpoint: Checkpoint) -> None:
    path = anchor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(canonical({**checkpoint.statement(), "signature": checkpoint.signature}) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def _anchor_missing(anchored: dict[str, Any] | None) -> str:
    """Why the anchored checkpoint is not in the database, or "" when it is."""
    if anchored is None:
        return ""
    found = Checkpoint.objects.filter(number=anchored["number"]).values_list("signature", flat=True).first()
    if found == anchored["signature"]:
        return ""
    return (
        f"checkpoint {anchored['number']} (chain_seq {anchored['chain_seq']}, {anchored['created_at']}), written "
        f"outside the database to {anchor_path()}, is {'different' if found else 'missing'} in the database: "
        "checkpoints and events were removed or replaced (a TRUNCATE, a restore). If the database was reset on "
        "purpose, move the anchor file aside"
    )


# --- Sealing ----------------------------------------------------------------------------------------------


class ChainBrokenError(RuntimeError):
    """The sealed chain is not the one the last checkpoint signed: the sealer will not sign over it."""


@dataclass
class SealResult:
    sealed: int = 0
    checkpoints: int = 0
    chain_seq: int = 0
    chain_hash: str = GENESIS


def _head() -> tuple[int, str]:
    last = Event.objects.filter(chain_seq__isnull=False).order_by("-chain_seq").values_list("chain_seq", "chain_hash")
    row = last.first()
    if row is None or row[0] is None:
        return 0, GENESIS
    return int(row[0]), str(row[1] or GENESIS)


def _check_head(chain_seq: int, chain_hash: str, last: Checkpoint | None) -> None:
    """Every sealed event is covered by a checkpoint written with it: a chain that ends elsewhere was altered."""
    if last is None:
        if chain_seq:
            raise ChainBrokenError(f"Events are sealed up to {chain_seq} but no checkpoint exists. Run audit verify.")
        return
    if (last.chain_seq, last.chain_hash) != (chain_seq, chain_hash):
        raise ChainBrokenError(
            f"The chain ends at {chain_seq} but the last checkpoint (number {last.number}) is at {last.chain_seq}: "
            "the trail was altered. Run `manage.py audit verify` to find where."
        )


def _column(name: str) -> str:
    return str(Event._meta.get_field(name).column)  # type: ignore[union-attr]


def _unsealed(limit: int) -> list[dict[str, Any]]:
    """Committed unsealed events, oldest id first. One committed after a later id was sealed is simply sealed now:
    the chain's order is the sealer's, so no event can be passed over."""
    columns = ", ".join(_column(name) for name in BODY_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM audit_event WHERE chain_seq IS NULL ORDER BY id LIMIT %s",  # noqa: S608 (ours)
            [limit],
        )
        return [dict(zip(BODY_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def _write_seals(seals: list[tuple[int, int, str, str]]) -> None:
    """The sealer's one write: chain_seq, digest and chain_hash onto unsealed events, in one statement."""
    if not seals:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s, %s, %s, %s)"] * len(seals))
            cursor.execute(
                "UPDATE audit_event AS e SET chain_seq = v.seq, digest = v.digest, chain_hash = v.hash "  # noqa: S608
                f"FROM (VALUES {values}) AS v(id, seq, digest, hash) "
                "WHERE e.id = v.id AND e.chain_seq IS NULL",
                [value for seal in seals for value in seal],
            )
            if cursor.rowcount != len(seals):
                raise ChainBrokenError("Another writer sealed events during this pass: nothing of it is kept.")
        else:
            cursor.executemany(
                "UPDATE audit_event SET chain_seq = %s, digest = %s, chain_hash = %s "
                "WHERE id = %s AND chain_seq IS NULL",
                [(seq, digest, chained, pk) for pk, seq, digest, chained in seals],
            )


def _checkpoint(chain_seq: int, chain_hash: str, key: Signer, last: Checkpoint | None) -> Checkpoint:
    checkpoint = Checkpoint(
        number=(last.number + 1) if last else 1,
        previous=signature_digest(last.signature) if last else GENESIS,
        chain_seq=chain_seq,
        chain_hash=chain_hash,
        created_at=timezone.now(),
        key_id=key.key_id,
    )
    checkpoint.signature = key.sign(checkpoint.statement())
    checkpoint.save()
    # Outside the database only once it is committed: an anchor ahead of the database would be a false alarm.
    transaction.on_commit(lambda: _anchor_append(checkpoint))
    return checkpoint


def seal(*, batch: int = SEAL_BATCH, quiet_interval: float = 0) -> SealResult:
    """One sealing pass: every committed unsealed event, in batches, each committed with its signed checkpoint.

    When nothing is sealed, a checkpoint is still written if the last one is ``quiet_interval`` seconds old or
    older (0: always), so that "nothing happened" is signed too.
    """
    key = signer_publish()
    result = SealResult()
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK])
            last = Checkpoint.objects.order_by("-number").first()
            missing = _anchor_missing(anchor_last())
            if missing:
                raise ChainBrokenError(missing[0].upper() + missing[1:] + ".")
            chain_seq, chain_hash = _head()
            _check_head(chain_seq, chain_hash, last)
            rows = _unsealed(batch)
            seals = []
            for row in rows:
                chain_seq += 1
                digest = body_digest(event_body(row))
                chain_hash = link(chain_seq, chain_hash, digest)
                seals.append((row["id"], chain_seq, digest, chain_hash))
            _write_seals(seals)
            quiet_due = last is None or timezone.now() - last.created_at >= timedelta(seconds=quiet_interval)
            if rows or (not result.checkpoints and quiet_due):
                _checkpoint(chain_seq, chain_hash, key, last)
                result.checkpoints += 1
        result.sealed += len(rows)
        result.chain_seq, result.chain_hash = chain_seq, chain_hash
        if len(rows) < batch:
            return result


# --- Verifying ---------------------------------------------------------------------------------------------


@dataclass
class Damage:
    kind: str  # modified, missing, inserted, reordered, bad signature, truncated tail
    chain_seq: int | None
    event_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"chain_seq {self.chain_seq}" if self.chain_seq is not None else "the trail"
        named = f" (event id {self.event_id})" if self.event_id is not None else ""
        return f"{self.kind} at {where}{named}: {self.detail}"


@dataclass
class Verification:
    checked: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    newest_checkpoint_at: datetime | None = None
    damage: list[Damage] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.damage


@dataclass(frozen=True)
class Sealed:
    chain_seq: int
    event_id: int
    digest: str
    chain_hash: str
    computed: str  # the digest of the event as stored now


def _sealed_rows(start: int) -> Iterator[Sealed]:
    fields = ("chain_seq", "digest", "chain_hash", *BODY_FIELDS)
    rows = Event.objects.filter(chain_seq__gte=start).order_by("chain_seq").values_list(*fields)
    for row in rows.iterator(chunk_size=5000):
        values = dict(zip(fields, row, strict=True))
        yield Sealed(
            values["chain_seq"],
            values["id"],
            values["digest"] or "",
            values["chain_hash"] or "",
            body_digest(event_body(values)),
        )


def _checkpoints_damage(keys: dict[str, str], result: Verification) -> Damage | None:
    """Every checkpoint: numbered without a gap, naming the one before it, signed by a known key."""
    expected, previous = 1, GENESIS
    for checkpoint in Checkpoint.objects.order_by("number").iterator(chunk_size=5000):
        where = f"checkpoint {checkpoint.number}"
        if checkpoint.number != expected:
            return Damage("missing", checkpoint.chain_seq, None, f"checkpoint {expected} is gone ({where} follows)")
        if checkpoint.previous != previous:
            return Damage("bad signature", checkpoint.chain_seq, None, f"{where} does not name the one before it")
        public = keys.get(checkpoint.key_id)
        if public is None or not signature_valid(checkpoint.statement(), checkpoint.signature, public):
            why = "is signed by an unknown key" if public is None else "has a signature that does not verify"
            return Damage("bad signature", checkpoint.chain_seq, None, f"{where} {why}")
        expected, previous = expected + 1, signature_digest(checkpoint.signature)
        result.checkpoints += 1
        result.newest_checkpoint_at = checkpoint.created_at
    return None


def verify(
    *,
    start: int = 1,
    pinned_keys: dict[str, str] | None = None,
    anchor: Path | None = None,
    progress: Callable[[int], object] | None = None,
) -> Verification:
    """Recompute the chain from ``start`` and check every checkpoint, in one consistent view of the database.

    Damage is named by kind at the first place it shows: an event whose content no longer has its digest
    (modified), a chain_seq or checkpoint with nothing there (missing), an event that belongs to no position
    (inserted), two events in each other's places (reordered), a checkpoint that does not verify or does not name
    the one before it (bad signature), and a chain that ends before what was signed (truncated tail), the anchor
    file included. ``pinned_keys`` (key id -> public key) replaces the keys this database publishes, so that a key
    swapped in the database does not vouch for itself; ``anchor`` replaces the configured anchor file.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:  # the sealer may commit meanwhile: read one snapshot
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _verify(start, pinned_keys, anchor, progress)


def _verify(
    start: int, pinned: dict[str, str] | None, anchor: Path | None, progress: Callable[[int], object] | None
) -> Verification:
    result = Verification()
    keys = pinned if pinned is not None else dict(SigningKey.objects.values_list("key_id", "public_key"))
    damage = (
        _checkpoints_damage(keys, result)
        or _anchor_damage(anchor)
        or _chain_damage(start, result, progress)
        or _tail_damage(start, result)
    )
    if damage is not None:
        result.damage.append(damage)
    return result


def _anchor_damage(anchor: Path | None) -> Damage | None:
    missing = _anchor_missing(anchor_last(anchor) if anchor else anchor_last())
    return Damage("truncated tail", None, None, missing) if missing else None


def _chain_damage(start: int, result: Verification, progress: Callable[[int], object] | None) -> Damage | None:
    """The first damage among the sealed events from ``start``: each must be in its place, have its content's
    digest, follow from the event before it, and carry the chain hash of every checkpoint signed at it. Counts the
    events that pass in ``result``."""
    previous, earlier = GENESIS, GENESIS  # the chain hashes of the last two events checked
    last_event: int | None = None
    if start > 1:
        before = Event.objects.filter(chain_seq=start - 1).values_list("chain_hash", flat=True).first()
        if before is None:
            return Damage("missing", start - 1, None, "the event before --from is not in the trail")
        previous = before
    signed = Checkpoint.objects.filter(chain_seq__gte=start).order_by("chain_seq", "number")
    checkpoints = signed.values_list("chain_seq", "chain_hash", "number").iterator(chunk_size=5000)
    pending_checkpoint = next(checkpoints, None)
    rows = _sealed_rows(start)
    for expected, row in enumerate(rows, start=start):
        if row.chain_seq != expected:
            return Damage("missing", expected, None, f"no event has chain_seq {expected}; the next is {row.chain_seq}")
        broken = _link_damage(
            row, rows, previous=previous, earlier=earlier, last_event=last_event, first=not result.checked
        )
        if broken is not None:
            return broken
        while pending_checkpoint is not None and pending_checkpoint[0] == row.chain_seq:
            if pending_checkpoint[1] != row.chain_hash:
                detail = f"checkpoint {pending_checkpoint[2]} signed another chain hash here"
                return Damage("modified", row.chain_seq, row.event_id, detail)
            pending_checkpoint = next(checkpoints, None)
        earlier, previous, last_event = previous, row.chain_hash, row.event_id
        result.checked += 1
        result.last_seq = row.chain_seq
        if progress is not None and result.checked % 10_000 == 0:
            progress(10_000)
    return None


def _link_damage(
    row: Sealed, rows: Iterator[Sealed], *, previous: str, earlier: str, last_event: int | None, first: bool
) -> Damage | None:
    """What broke at ``row`` when its content no longer has its digest or its chain hash does not follow from
    ``previous``; None when both hold. ``rows`` yields the events after it."""
    if row.computed == row.digest and link(row.chain_seq, previous, row.digest) == row.chain_hash:
        return None
    fits_earlier = link(row.chain_seq - 1, earlier, row.digest) == row.chain_hash
    if not first and row.computed == row.digest and fits_earlier:
        # This event belongs one place earlier: the one before it was slipped in (with a valid link).
        detail = "this event was not in the chain when it was sealed; the events after it moved up"
        return Damage("inserted", row.chain_seq - 1, last_event, detail)
    return _classify(row, next(rows, None), previous)


def _tail_damage(start: int, result: Verification) -> Damage | None:
    """The chain must end where the newest checkpoint signed it: not before (events cut off), not after (events
    sealed without a checkpoint)."""
    signed_up_to = max(
        start - 1, Checkpoint.objects.order_by("-number").values_list("chain_seq", flat=True).first() or 0
    )
    end = max(result.last_seq, start - 1)
    if signed_up_to > end:
        detail = f"a checkpoint covers events up to {signed_up_to}, the chain ends at {end}"
        return Damage("truncated tail", end + 1, None, detail)
    if end > signed_up_to:
        detail = (
            f"events {signed_up_to + 1}..{end} are sealed but no checkpoint covers them; the sealer writes one with "
            "every batch"
        )
        return Damage("inserted", signed_up_to + 1, None, detail)
    return None


def _classify(row: Sealed, following: Sealed | None, previous: str) -> Damage:
    """What broke at ``row``, judged with its neighbour."""
    if following is not None:
        next_fits_here = following.computed == following.digest and following.chain_hash == link(
            row.chain_seq, previous, following.digest
        )
        row_fits_next = link(following.chain_seq, following.chain_hash, row.computed) == row.chain_hash
        swapped_contents = row.computed == following.digest and following.computed == row.digest
        if (next_fits_here and row_fits_next) or swapped_contents:
            detail = f"it and chain_seq {following.chain_seq} have changed places"
            return Damage("reordered", row.chain_seq, row.event_id, detail)
        if next_fits_here:
            return Damage("inserted", row.chain_seq, row.event_id, "this event was not in the chain when it was sealed")
        renumbered = link(following.chain_seq + 1, row.chain_hash, following.digest) == following.chain_hash
        if row.computed == row.digest and renumbered:
            detail = "the event sealed before this one is gone, and the events after it were renumbered"
            return Damage("missing", row.chain_seq, None, detail)
    if row.computed != row.digest:
        return Damage("modified", row.chain_seq, row.event_id, "its content no longer matches its digest")
    return Damage("modified", row.chain_seq, row.event_id, "its chain hash does not follow from the event before it")
