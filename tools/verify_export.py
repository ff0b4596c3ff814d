#!/usr/bin/env python3
"""Check an Accord audit export offline: the file, its manifest and the chain, against a public key you pinned.

    python verify_export.py EXPORT_FILE --public-key=KEY [--public-key=OLDER_KEY] [--manifest FILE.manifest.json]

Write --public-key=KEY with the "=": a key may start with "-", which would otherwise be read as an option.

KEY is the trail's public key as GET /api/v1/audit/public-key lists it (url-safe base64), fetched once and kept:
the manifest carries a key too, but a key that vouches for itself proves nothing. Needs only Python 3.10+ and the
`cryptography` package. Exit 0 when the export is intact; 1 naming the first problem; 2 for bad usage.

What it checks:
1. the manifest's signature, with the pinned key;
2. the file's SHA-256 against the manifest;
3. every row in full: its digest is the SHA-256 of the event's canonical JSON;
4. the chain: each row's chain hash follows from the one before (from the manifest's previous_hash), the rows
   run without a gap from first_seq to last_seq, and the last hash is the covering checkpoint's;
5. the checkpoint's signature, with the pinned key.
Rows shown as a digest only (other partners' events in a partner's export) are checked through the chain alone.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BODY_FIELDS = [
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
]


class Broken(Exception):
    """The export is not intact; the message says where and how."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def signed(statement: dict[str, Any], signature: str, public_key: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(decode(public_key)).verify(decode(signature), canonical(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id_of(public_key: str) -> str:
    return hashlib.sha256(decode(public_key)).hexdigest()[:32]


def rows(path: Path, fmt: str) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
    """(chain_seq, digest, chain_hash, event body or None) per row."""
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for number, line in enumerate(handle, start=1):
                try:
                    row = json.loads(line)
                    yield int(row["chain_seq"]), row["digest"], row["chain_hash"], row.get("event")
                except (ValueError, KeyError, TypeError) as error:
                    raise Broken(f"line {number} is not an export row ({error})") from None
            return
        for number, cells in enumerate(csv.DictReader(handle), start=2):
            try:
                body = None
                if cells["in_full"] == "yes":
                    body = {name: cells[name] for name in BODY_FIELDS}
                    body["id"] = int(body["id"])
                    body["client_address"] = body["client_address"] or None
                    body["details"] = json.loads(body["details"])
                yield int(cells["chain_seq"]), cells["digest"], cells["chain_hash"], body
            except (ValueError, KeyError, TypeError) as error:
                raise Broken(f"CSV line {number} is not an export row ({error})") from None


def check(export: Path, manifest_file: Path, public_keys: list[str]) -> str:
    pinned = {key_id_of(key): key for key in public_keys}
    manifest = signed_manifest(manifest_file, pinned)
    if file_sha256(export) != manifest["file_sha256"]:
        raise Broken("the file's SHA-256 is not the manifest's: the file was altered after export")
    checkpoint = signed_checkpoint(manifest["checkpoint"], pinned)
    chain = walk_chain(export, manifest)
    if chain.last_seq != manifest["last_seq"] or chain.total != manifest["count"]:
        raise Broken(f"the file ends at chain_seq {chain.last_seq}; the manifest says {manifest['last_seq']}")
    if chain.last_hash != checkpoint["chain_hash"] or manifest["last_seq"] != checkpoint["chain_seq"]:
        raise Broken("the chain does not end at the signed checkpoint's hash")
    return (
        f"Intact: {chain.total} rows (chain_seq {manifest['first_seq']} to {manifest['last_seq']}, {chain.in_full} in "
        f"full), ending at the checkpoint of {checkpoint['created_at']} signed by key {checkpoint['key_id']}."
    )


def signed_manifest(manifest_file: Path, pinned: dict[str, str]) -> dict[str, Any]:
    """The manifest without its signature, once the signature verifies with a pinned key."""
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Broken(f"cannot read the manifest {manifest_file}: {error}") from None
    signature = manifest.pop("signature", "")
    key = pinned.get(manifest.get("key_id", ""))
    if key is None:
        raise Broken(f"the manifest is signed by key {manifest.get('key_id')}, which is not among the pinned keys")
    if not signed(manifest, signature, key):
        raise Broken("the manifest's signature does not verify with the pinned key: it was altered")
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def signed_checkpoint(covering: dict[str, Any], pinned: dict[str, str]) -> dict[str, Any]:
    """The manifest's covering checkpoint without its signature, once the signature verifies with a pinned key."""
    checkpoint = dict(covering)
    signature = checkpoint.pop("signature")
    key = pinned.get(checkpoint["key_id"])
    if key is None:
        raise Broken(f"the checkpoint is signed by key {checkpoint['key_id']}: pin that key too (--public-key)")
    if not signed(checkpoint, signature, key):
        raise Broken("the covering checkpoint's signature does not verify: it was altered")
    return checkpoint


class ChainEnd(NamedTuple):
    """Where the rows of an export end, how many there were, and how many of them in full."""

    last_seq: int
    last_hash: str
    total: int
    in_full: int


def walk_chain(export: Path, manifest: dict[str, Any]) -> ChainEnd:
    """Every row from the manifest's first_seq without a gap, each in full matching its digest and each linked to
    the one before it (the first to the manifest's previous_hash)."""
    previous, expected, count, full = manifest["previous_hash"], manifest["first_seq"], 0, 0
    for chain_seq, row_digest, chain_hash, body in rows(export, manifest["format"]):
        if chain_seq != expected:
            raise Broken(f"chain_seq {expected} is missing (the next row is {chain_seq})")
        if body is not None:
            full += 1
            if hashlib.sha256(canonical(body)).hexdigest() != row_digest:
                event = body.get("id")
                raise Broken(f"chain_seq {chain_seq} (event id {event}) was modified: it no longer has its digest")
        if hashlib.sha256(f"{chain_seq}:{previous}:{row_digest}".encode()).hexdigest() != chain_hash:
            raise Broken(f"chain_seq {chain_seq}: its chain hash does not follow from the row before it")
        previous, expected, count = chain_hash, expected + 1, count + 1
    return ChainEnd(last_seq=expected - 1, last_hash=previous, total=count, in_full=full)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path, help="the exported file (.jsonl or .csv)")
    parser.add_argument(
        "--public-key",
        required=True,
        action="append",
        help="a pinned public key, url-safe base64; repeat it for keys used before a rotation",
    )
    parser.add_argument("--manifest", type=Path, help="default: EXPORT.manifest.json beside the file")
    options = parser.parse_args()
    manifest = options.manifest or options.export.with_name(options.export.name + ".manifest.json")
    keys = [key.strip() for key in options.public_key]
    if not options.export.is_file() or not manifest.is_file():
        missing = options.export if not options.export.is_file() else manifest
        print(
            f"{missing} is not a file: give the export and keep its manifest beside it (or --manifest).",
            file=sys.stderr,
        )
        return 2
    if any(len(decode_or_empty(key)) != 32 for key in keys):
        print("--public-key takes an Ed25519 public key as /api/v1/audit/public-key lists it.", file=sys.stderr)
        return 2
    try:
        print(check(options.export, manifest, keys))
    except (Broken, OSError) as problem:
        print(f"NOT INTACT: {problem}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError, csv.Error) as problem:
        print(f"NOT INTACT: the manifest or the file is not in the export format ({problem!r})", file=sys.stderr)
        return 1
    return 0


def decode_or_empty(value: str) -> bytes:
    try:
        return decode(value)
    except ValueError:
        return b""


if __name__ == "__main__":
    sys.exit(main())
