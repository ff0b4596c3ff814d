"""The hash chain over the trail: sealing events in order, signed checkpoints, and verifying both.

Each event's ``digest`` is the SHA-256 of its canonical JSON (``event_body``); its ``chain_hash`` is the SHA-256 of
its ``chain_seq``, the previous event's chain hash and its digest. An event can therefore be shown as its digest
alone and the chain still checks: that is how a partner's export covers other partners' events.

Events are inserted freely and sealed later, in order, by one sealer at a time (``seal``). On PostgreSQL the sealer
seals only events whose transaction is older than every transaction still running, so an event committed late
is sealed late rather than skipped; on SQLite writers are serialised, so every visible event is final. Every batch
the sealer commits carries a signed checkpoint over its last event, in the same transaction, so every sealed event
is covered by a checkpoint, and a checkpoint is written even when nothing happened.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
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
)


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that digests and signatures cover."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_body(row: dict[str, Any]) -> dict[str, Any]:
    """An event as JSON values: what its digest covers and what an export writes."""
    body = {name: row[name] for name in BODY_FIELDS}
    occurred_at = body["occurred_at"]
    if isinstance(occurred_at, datetime):
        body["occurred_at"] = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(body["details"], str):  # raw SQL on SQLite hands JSON back as text
        body["details"] = json.loads(body["details"])
    return body


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def link(chain_seq: int, previous: str, digest: str) -> str:
    return hashlib.sha256(f"{chain_seq}:{previous}:{digest}".encode()).hexdigest()


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

    def sign(self, statement: dict[str, Any]) -> str:
        return encode(self.private.sign(canonical(statement)))


def signer() -> Signer:
    """The configured signing key (ACCORD_AUDIT_SIGNING_KEY), published in the keys table on first use."""
    private = Ed25519PrivateKey.from_private_bytes(decode(settings.ACCORD_AUDIT_SIGNING_KEY))
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    found = Signer(private, public_raw)
    if not SigningKey.objects.filter(key_id=found.key_id).exists():
        SigningKey.objects.get_or_create(key_id=found.key_id, defaults={"public_key": encode(public_raw)})
    return found


def signature_valid(statement: dict[str, Any], signature: str, public_key: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(decode(public_key)).verify(decode(signature), canonical(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Sealing ----------------------------------------------------------------------------------------------


class ChainBrokenError(RuntimeError):
    """The sealed chain does not end where the last checkpoint says: the sealer will not sign over it."""


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


def _check_head(chain_seq: int, chain_hash: str) -> None:
    """Every sealed event is covered by a checkpoint written with it: a chain that ends elsewhere was altered."""
    checkpoint = Checkpoint.objects.order_by("-id").first()
    if checkpoint is None:
        if chain_seq:
            raise ChainBrokenError(f"Events are sealed up to {chain_seq} but no checkpoint exists. Run audit verify.")
        return
    if (checkpoint.chain_seq, checkpoint.chain_hash) != (chain_seq, chain_hash):
        raise ChainBrokenError(
            f"The chain ends at {chain_seq} but the last checkpoint (#{checkpoint.pk}) is at "
            f"{checkpoint.chain_seq}: the trail was altered. Run `manage.py audit verify` to find where."
        )


def _horizon() -> int | None:
    """PostgreSQL: the oldest transaction still running; events written by older ones are final."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(cursor.fetchone()[0])


def _column(name: str) -> str:
    return str(Event._meta.get_field(name).column)  # type: ignore[union-attr]


def _columns() -> str:
    return ", ".join(_column(name) for name in BODY_FIELDS)


def _unsealed(horizon: int | None, limit: int) -> list[dict[str, Any]]:
    sql = f"SELECT {_columns()} FROM audit_event WHERE chain_seq IS NULL"  # noqa: S608 (column names are ours)
    params: list[Any] = []
    if horizon is not None:
        # Final: written before every running transaction began, or by this one (it commits with its seals).
        sql += " AND (txid IS NULL OR txid < %s OR txid = pg_current_xact_id_if_assigned()::text::bigint)"
        params.append(horizon)
    sql += " ORDER BY id LIMIT %s"
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    field_of = {_column(name): name for name in BODY_FIELDS}
    return [{field_of[key]: value for key, value in row.items()} for row in rows]


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
        else:
            cursor.executemany(
                "UPDATE audit_event SET chain_seq = %s, digest = %s, chain_hash = %s "
                "WHERE id = %s AND chain_seq IS NULL",
                [(seq, digest, chained, pk) for pk, seq, digest, chained in seals],
            )
        if cursor.rowcount != len(seals) and connection.vendor == "postgresql":
            raise ChainBrokenError("Another writer sealed events during this pass: nothing of it is kept.")


def _checkpoint(chain_seq: int, chain_hash: str, key: Signer) -> Checkpoint:
    checkpoint = Checkpoint(chain_seq=chain_seq, chain_hash=chain_hash, created_at=timezone.now(), key_id=key.key_id)
    checkpoint.signature = key.sign(checkpoint.statement())
    checkpoint.save()
    return checkpoint


def seal(*, batch: int = SEAL_BATCH) -> SealResult:
    """One sealing pass: every final unsealed event, in id order, in batches, each batch committed with its signed
    checkpoint; at least one checkpoint even when there is nothing to seal."""
    key = signer()
    result = SealResult()
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK])
            chain_seq, chain_hash = _head()
            _check_head(chain_seq, chain_hash)
            rows = _unsealed(_horizon(), batch)
            seals = []
            for row in rows:
                chain_seq += 1
                digest = body_digest(event_body(row))
                chain_hash = link(chain_seq, chain_hash, digest)
                seals.append((row["id"], chain_seq, digest, chain_hash))
            _write_seals(seals)
            if rows or not result.checkpoints:
                _checkpoint(chain_seq, chain_hash, key)
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


def _published_keys(pinned: dict[str, str] | None) -> dict[str, str]:
    if pinned is not None:
        return pinned
    return dict(SigningKey.objects.values_list("key_id", "public_key"))


def verify(
    *, start: int = 1, pinned_keys: dict[str, str] | None = None, progress: Callable[[int], object] | None = None
) -> Verification:
    """Recompute the chain from ``start`` and check every checkpoint's signature and position.

    Damage is named by kind at the first place it shows: an event whose content no longer has its digest
    (modified), a chain_seq with no event (missing), an event that belongs to no position (inserted), two events
    in each other's places (reordered), a checkpoint whose signature fails (bad signature), and a chain that ends
    before the last checkpoint (truncated tail). ``pinned_keys`` (key id -> public key) replaces the keys this
    database publishes, so that a key swapped in the database does not vouch for itself.
    """
    result = Verification()
    keys = _published_keys(pinned_keys)
    checkpoints = list(Checkpoint.objects.filter(chain_seq__gte=start - 1).order_by("chain_seq", "id"))
    for checkpoint in checkpoints:
        public = keys.get(checkpoint.key_id)
        if public is None or not signature_valid(checkpoint.statement(), checkpoint.signature, public):
            why = "signed by an unknown key" if public is None else "its signature does not verify"
            result.damage.append(
                Damage("bad signature", checkpoint.chain_seq, None, f"checkpoint #{checkpoint.pk} {why}")
            )
            return result
    result.checkpoints = len(checkpoints)
    at_seq: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        at_seq.setdefault(checkpoint.chain_seq, []).append(checkpoint)

    previous, earlier = GENESIS, GENESIS  # the chain hashes of the last two events checked
    last_event: int | None = None
    if start > 1:
        before = Event.objects.filter(chain_seq=start - 1).values_list("chain_hash", flat=True).first()
        if before is None:
            result.damage.append(Damage("missing", start - 1, None, "the event before --from is not in the trail"))
            return result
        previous = before
    expected = start
    rows = _sealed_rows(start)
    pending: Sealed | None = None
    while True:
        row = pending or next(rows, None)
        pending = None
        if row is None:
            break
        if row.chain_seq != expected:
            result.damage.append(
                Damage("missing", expected, None, f"no event has chain_seq {expected}; the next is {row.chain_seq}")
            )
            return result
        if row.computed != row.digest or link(row.chain_seq, previous, row.digest) != row.chain_hash:
            if (
                result.checked
                and row.computed == row.digest
                and link(row.chain_seq - 1, earlier, row.digest) == (row.chain_hash)
            ):
                # This event belongs one place earlier: the one before it was slipped in (with a valid link).
                detail = "this event was not in the chain when it was sealed; the events after it moved up"
                result.damage.append(Damage("inserted", row.chain_seq - 1, last_event, detail))
                return result
            following = next(rows, None)
            result.damage.append(_classify(row, following, previous))
            return result
        for checkpoint in at_seq.get(row.chain_seq, []):
            if checkpoint.chain_hash != row.chain_hash:
                result.damage.append(
                    Damage(
                        "modified",
                        row.chain_seq,
                        row.event_id,
                        f"checkpoint #{checkpoint.pk} signed another chain hash here",
                    )
                )
                return result
        earlier, previous, last_event = previous, row.chain_hash, row.event_id
        result.checked += 1
        if progress is not None and result.checked % 10_000 == 0:
            progress(10_000)
        result.last_seq = row.chain_seq
        expected += 1
    last_checkpoint = max((checkpoint.chain_seq for checkpoint in checkpoints), default=0)
    if last_checkpoint > result.last_seq:
        result.damage.append(
            Damage(
                "truncated tail",
                result.last_seq + 1,
                None,
                f"a checkpoint covers events up to {last_checkpoint}, the chain ends at {result.last_seq}",
            )
        )
    elif result.last_seq > last_checkpoint and checkpoints:
        result.damage.append(
            Damage(
                "inserted",
                last_checkpoint + 1,
                None,
                f"events {last_checkpoint + 1}..{result.last_seq} are sealed but no checkpoint covers them; the "
                "sealer writes one with every batch",
            )
        )
    return result


def _classify(row: Sealed, following: Sealed | None, previous: str) -> Damage:
    """What broke at ``row``, judged with its neighbour."""
    if following is not None:
        next_fits_here = following.computed == following.digest and following.chain_hash == link(
            row.chain_seq, previous, following.digest
        )
        row_fits_next = link(following.chain_seq, following.chain_hash, row.computed) == row.chain_hash
        swapped_contents = row.computed == following.digest and following.computed == row.digest
        if (next_fits_here and row_fits_next) or swapped_contents:
            return Damage(
                "reordered", row.chain_seq, row.event_id, f"it and chain_seq {following.chain_seq} have changed places"
            )
        if next_fits_here:
            return Damage("inserted", row.chain_seq, row.event_id, "this event was not in the chain when it was sealed")
    if row.computed != row.digest:
        return Damage("modified", row.chain_seq, row.event_id, "its content no longer matches its digest")
    return Damage("modified", row.chain_seq, row.event_id, "its chain hash does not follow from the event before it")
