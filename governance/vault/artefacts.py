"""The artefact store: files kept through Django's storage API, encrypted with data keys wrapped by the KEK.

Envelope encryption, as a KMS does it. Each asset version has one data key for its files, and each delivery to a
partner (an export, an evaluation output, a copy of an asset) gets its own. A data key is random, used with
AES-256-GCM, and stored only wrapped: AES-GCM under ``ACCORD_KEK``, with the key's id as associated data, so a
wrapped key moved to another row does not unwrap. Erasing the wrapped key is then a cryptographic erase of every
file it encrypts, whatever storage backend holds them and however many copies it made.

A file is encrypted in chunks (STREAM-style), so a model's weights never have to fit in memory:
    MAGIC | nonce prefix (8 bytes) | chunk size (4 bytes) | chunk 0 | chunk 1 | ...
Chunk i is AES-GCM with nonce = prefix | i (4 bytes), and associated data binding the artefact's id, i and whether
it is the last chunk: chunks cannot be reordered, swapped between files, or cut off at a chunk boundary unseen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterator
from functools import cache
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction

from accounts.models import Partner
from accounts.operations import Operation, performs
from audit.trail import Actor, record
from charters.models import AssetVersion
from governance.models.vault import Artefact, DataKey

MAGIC = b"ACCORD-AEAD-1\n"
CHUNK = 1024 * 1024
MAX_CHUNK = 64 * 1024 * 1024  # what a reader accepts from a header (which the chunks' associated data also bind)
TAG = 16
_KEY_CHECK_LABEL = b"accord data key check"


class KeyDestroyedError(Exception):
    """The artefact's data key was destroyed: its ciphertext can no longer be decrypted, by design."""


class CorruptArtefactError(Exception):
    """The stored ciphertext does not decrypt under its key: it was changed, cut short, or is not ours."""


def artefact_storage() -> Storage:
    return storages["artefacts"]


@cache
def _kek(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def kek() -> bytes:
    return _kek(settings.ACCORD_KEK)


def kek_id(key: bytes | None = None) -> str:
    """A short public name for the key-encryption key, so a wrapped key says which KEK it needs."""
    return hashlib.sha256(b"accord kek id" + (key or kek())).hexdigest()[:16]


def key_check(key: bytes) -> str:
    """A value that identifies a data key without revealing it (a key check value)."""
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def _wrap(key: bytes, key_id: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek()).encrypt(nonce, key, b"accord data key:" + key_id.encode())


def _unwrap(data_key: DataKey) -> bytes:
    if data_key.status == DataKey.Status.DESTROYED or data_key.wrapped is None:
        raise KeyDestroyedError(
            f"Data key {data_key.key_id} was destroyed on {data_key.destroyed_at:%Y-%m-%d %H:%M} UTC: "
            "what it encrypted can no longer be read. Its certificate of destruction says how and when."
        )
    if data_key.kek_id != kek_id():
        raise CorruptArtefactError(
            f"Data key {data_key.key_id} was wrapped by KEK {data_key.kek_id}, not by the configured ACCORD_KEK "
            f"({kek_id()}). Configure the KEK it was made with."
        )
    wrapped = bytes(data_key.wrapped)
    try:
        return AESGCM(kek()).decrypt(wrapped[:12], wrapped[12:], b"accord data key:" + data_key.key_id.encode())
    except InvalidTag:
        raise CorruptArtefactError(
            f"Data key {data_key.key_id} does not unwrap: its stored form was changed."
        ) from None


def data_key_unwrapped(data_key: DataKey) -> bytes:
    """The data key itself, for the one caller that may hold it: key release, which wraps it at once to an attested
    enclave's own public key (governance.attestation.release). Raises KeyDestroyedError or CorruptArtefactError."""
    return _unwrap(data_key)


@performs(Operation.ARTEFACT_STORE)
def data_key_create(
    *,
    scope: str,
    by: Actor,
    asset_version: AssetVersion | None = None,
    partner: Partner | None = None,
    key: bytes | None = None,
) -> DataKey:
    """Record a data key (a new random one, or ``key``), stored only wrapped by the KEK."""
    key = key or AESGCM.generate_key(bit_length=256)
    key_id = secrets.token_hex(16)
    data_key = DataKey.objects.create(
        key_id=key_id,
        scope=scope,
        asset_version=asset_version,
        partner=partner,
        wrapped=_wrap(key, key_id),
        kek_id=kek_id(),
        key_check=key_check(key),
        created_by=by.label,
    )
    record(
        action="data_key.created",
        actor=by,
        partner=partner.slug if partner else "",
        target=data_key,
        details={"key_id": key_id, "scope": scope, "kek_id": data_key.kek_id, "key_check": data_key.key_check},
    )
    return data_key


def _aad(uid: str, chunk: int, index: int, last: bool) -> bytes:
    return f"accord artefact:{uid}:{chunk}:{index}:{int(last)}".encode()


def _chunks(source: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The file in CHUNK-sized pieces, each with whether it is the last (an empty file is one empty last chunk)."""
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK) if len(current) == CHUNK else b""
        yield current, not following
        if not following:
            return
        current = following


def _encrypt(source: IO[bytes], key: bytes, uid: str, out: IO[bytes]) -> tuple[int, str]:
    """Write the ciphertext of ``source`` to ``out``; the plaintext's size and SHA-256."""
    aead = AESGCM(key)
    prefix = os.urandom(8)
    out.write(MAGIC + prefix + CHUNK.to_bytes(4, "big"))
    size, digest = 0, hashlib.sha256()
    for index, (chunk, last) in enumerate(_chunks(source)):
        size += len(chunk)
        digest.update(chunk)
        out.write(aead.encrypt(prefix + index.to_bytes(4, "big"), chunk, _aad(uid, CHUNK, index, last)))
    return size, digest.hexdigest()


def _decrypt(stream: IO[bytes], key: bytes, uid: str) -> Iterator[bytes]:
    header = stream.read(len(MAGIC) + 12)
    if len(header) != len(MAGIC) + 12 or not header.startswith(MAGIC):
        raise CorruptArtefactError(f"Artefact {uid} is not an Accord ciphertext (its header is wrong).")
    prefix, chunk = header[len(MAGIC) : len(MAGIC) + 8], int.from_bytes(header[-4:], "big")
    if not 0 < chunk <= MAX_CHUNK:
        raise CorruptArtefactError(f"Artefact {uid} names a chunk size of {chunk} bytes: its header was changed.")
    aead = AESGCM(key)
    current = stream.read(chunk + TAG)
    index = 0
    while True:
        following = stream.read(chunk + TAG) if len(current) == chunk + TAG else b""
        last = not following
        try:
            yield aead.decrypt(prefix + index.to_bytes(4, "big"), current, _aad(uid, chunk, index, last))
        except InvalidTag:
            raise CorruptArtefactError(
                f"Artefact {uid} does not decrypt at chunk {index}: the stored ciphertext was changed or cut short."
            ) from None
        if last:
            return
        current, index = following, index + 1


def _file_sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@performs(Operation.ARTEFACT_STORE)
def artefact_store(
    *,
    source: IO[bytes],
    name: str,
    kind: str,
    by: Actor,
    asset_version: AssetVersion | None = None,
    partner: Partner | None = None,
) -> Artefact:
    """Encrypt ``source`` into the store. An asset file uses its asset version's key (made on first use);
    anything produced for a partner gets a key of its own, so that it can be destroyed alone."""
    if kind not in Artefact.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}: use one of {', '.join(Artefact.Kind.values)}."})
    if kind == Artefact.Kind.ASSET_FILE and (asset_version is None or partner is not None):
        raise ValidationError({"kind": "An asset file belongs to an asset version and to no partner."})
    if kind != Artefact.Kind.ASSET_FILE and partner is None:
        raise ValidationError({"partner": "Name the partner this file is produced for."})
    name = os.path.basename(name.strip()) or "artefact"
    uid = secrets.token_hex(16)
    storage = artefact_storage()
    key, existing = _key_material(kind, asset_version)
    # Encrypting and uploading a model's weights takes a while, so it happens outside any transaction (none is
    # held open against the trail's sealer or other uploads). The ciphertext goes to a temporary file first (never
    # the plaintext), then through the storage API in one upload; the rows are written after, in one short
    # transaction, and the upload is removed if they cannot be.
    with tempfile.TemporaryFile(dir=settings.VAR_DIR) as encrypted:
        size, sha256 = _encrypt(source, key, uid, encrypted)
        encrypted.seek(0)
        stored_name = storage.save(f"artefacts/{uid[:2]}/{uid}.enc", File(encrypted))
    try:
        ciphertext_sha256 = _file_sha256(storage, stored_name)
        with transaction.atomic():
            data_key = _key_record(kind, asset_version, partner, key, existing, by)
            artefact = Artefact.objects.create(
                uid=uid,
                data_key=data_key,
                kind=kind,
                asset_version=asset_version,
                partner=partner,
                name=name[:255],
                storage_name=stored_name,
                size_bytes=size,
                sha256=sha256,
                ciphertext_sha256=ciphertext_sha256,
                created_by=by.label,
            )
            record(
                action="artefact.stored",
                actor=by,
                partner=partner.slug if partner else "",
                target=artefact,
                details={
                    "name": artefact.name,
                    "kind": kind,
                    "asset": asset_version.fingerprint if asset_version else None,
                    "key_id": data_key.key_id,
                    "size_bytes": size,
                    "sha256": sha256,
                },
            )
    except Exception:
        # Nothing half-written: no row, no ciphertext. (Should the caller's own transaction roll back later, the
        # ciphertext stays behind with no key anywhere: unreadable by construction.)
        storage.delete(stored_name)
        raise
    return artefact


def _key_material(kind: str, asset_version: AssetVersion | None) -> tuple[bytes, DataKey | None]:
    """The key to encrypt with: the asset version's own (when it has one), or a new one."""
    if kind == Artefact.Kind.ASSET_FILE:
        existing = DataKey.objects.filter(scope=DataKey.Scope.ASSET_VERSION, asset_version=asset_version).first()
        if existing is not None:
            _refuse_unless_active(existing, asset_version)
            return _unwrap(existing), existing
    return AESGCM.generate_key(bit_length=256), None


def _refuse_unless_active(data_key: DataKey, asset_version: AssetVersion | None) -> None:
    if data_key.status != DataKey.Status.ACTIVE:
        state = data_key.get_status_display().lower()
        message = (
            f"{asset_version}'s data key is {state}: no new file can be stored under it. "
            "Cancel the destruction first, or register a new asset version."
        )
        raise ValidationError({"asset_version": message})


def _key_record(
    kind: str,
    asset_version: AssetVersion | None,
    partner: Partner | None,
    key: bytes,
    existing: DataKey | None,
    by: Actor,
) -> DataKey:
    if kind != Artefact.Kind.ASSET_FILE:
        return data_key_create(
            scope=DataKey.Scope.DELIVERY, asset_version=asset_version, partner=partner, key=key, by=by
        )
    # Locked, so that two first uploads of one version agree on its one key.
    if asset_version is not None:
        AssetVersion.objects.select_for_update().filter(pk=asset_version.pk).first()
    current = DataKey.objects.filter(scope=DataKey.Scope.ASSET_VERSION, asset_version=asset_version).first()
    if current is None:
        return data_key_create(scope=DataKey.Scope.ASSET_VERSION, asset_version=asset_version, key=key, by=by)
    if existing is None or current.pk != existing.pk:
        raise ValidationError(
            {"asset_version": "Another upload made this asset version's key at the same moment: store the file again."}
        )
    _refuse_unless_active(current, asset_version)  # a destruction scheduled while the file was encrypted
    return current


def artefact_read(artefact: Artefact) -> Iterator[bytes]:
    """The plaintext, chunk by chunk, checked as it is read. Raises KeyDestroyedError once the key is gone."""
    key = _unwrap(DataKey.objects.get(pk=artefact.data_key_id))
    storage = artefact_storage()

    def chunks() -> Iterator[bytes]:
        with storage.open(artefact.storage_name, "rb") as stream:
            yield from _decrypt(stream, key, artefact.uid)

    return chunks()


def artefact_decryptable(artefact: Artefact) -> bool:
    """Whether the stored ciphertext can still be decrypted with what the system holds."""
    try:
        for _ in artefact_read(artefact):
            pass
    except KeyDestroyedError:
        return False
    return True


def ciphertext_state(artefact: Artefact) -> dict[str, object]:
    """Whether the stored ciphertext is there and is the one written (its SHA-256 unchanged)."""
    storage = artefact_storage()
    if not storage.exists(artefact.storage_name):
        return {"present": False, "unchanged": None}
    return {"present": True, "unchanged": _file_sha256(storage, artefact.storage_name) == artefact.ciphertext_sha256}
