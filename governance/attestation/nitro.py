"""AWS Nitro Enclaves attestation documents: COSE_Sign1 over CBOR, signed by a certificate chained to the root.

The evidence is base64 (standard or URL-safe, padding optional) of the document the Nitro Secure Module returns: a
COSE_Sign1 (RFC 9052; tagged 18 or not) ``[protected, unprotected, payload, signature]`` whose protected header
names ES384 (-35) and whose payload is a CBOR map: ``module_id``, ``digest`` ("SHA384"), ``timestamp`` (ms since
the epoch), ``pcrs`` ({index: 48 bytes}), ``certificate`` (the leaf, DER), ``cabundle`` ([root, ..., the last
intermediate], DER), and the optional ``public_key``, ``user_data`` and ``nonce`` the enclave asked the NSM to put
in.

The check, as AWS describes it: the signature verifies with the leaf's key; the leaf chains through the bundle to
the verifier's root_cert_file (the bundle's root must be that root), each certificate valid at ``now`` and each
issuer a CA; the document is fresh (its timestamp no older than a nonce's lifetime, with the clock skew either way);
and it carries the nonce, as ASCII bytes. PCRs 0-2 (the enclave image, the kernel and boot ramdisk, the
application) are what was measured.

COSE is decoded with cbor2 and verified with cryptography directly: pycose cannot decode with cbor2 6 (which
webauthn pins) and verifies in pure Python.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import cbor2
import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings

from governance.attestation.evidence import (
    AttestationExpiredError,
    AttestationInvalidError,
    AttestationReplayedError,
    Measured,
    Verified,
    Verifier,
    digest_of,
)

COSE_SIGN1_TAG = 18
COSE_ALG = 1
ES384 = -35
MEASURED_PCRS = (0, 1, 2)
PCR_BYTES = 48
ES384_HALF_BYTES = 48


def nitro_verified(verifier: Verifier, evidence: Any, now: datetime) -> Verified:
    """Verify the Nitro attestation document ``evidence`` (base64 of its COSE_Sign1) with ``verifier``'s root at
    ``now``. Raises an AttestationError naming what failed."""
    raw = _decoded_base64(evidence)
    protected, payload, signature = _sign1(raw)
    document = _document(payload)
    leaf = _certificate(document["certificate"], "the document's certificate")
    chain = _chain(verifier, leaf, document["cabundle"])
    _check_signature(leaf, protected, payload, signature)
    # Freshness before the certificates' validity: an old document is refused as expired, though its leaf (issued
    # for a few hours) has most likely expired too.
    _check_fresh(document["timestamp"], now)
    for what, certificate in chain:
        _check_validity(certificate, what, now)
    pcrs = _pcrs(document["pcrs"])
    return Verified(
        verifier=verifier,
        claims=_claims(document, pcrs),
        nonce=_nonce(document.get("nonce")),
        digest=digest_of(raw),
        measurement=Measured("nitro", {f"pcr{index}": pcrs[index] for index in MEASURED_PCRS}),
        enclave_key=_enclave_key(document.get("public_key")),
    )


# --- Decoding -----------------------------------------------------------------------------------------------


def _decoded_base64(evidence: Any) -> bytes:
    if not isinstance(evidence, str) or not evidence.strip():
        raise AttestationInvalidError("The Nitro evidence must be the attestation document in base64, a string.")
    text = "".join(evidence.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise AttestationInvalidError(
            "The Nitro evidence is not base64: send the attestation document the NSM returned, base64-encoded."
        ) from None


def _sign1(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """The protected header (as signed), payload and signature of a COSE_Sign1, tagged or not."""
    try:
        message = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError):
        raise AttestationInvalidError("The Nitro attestation document is not CBOR.") from None
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise AttestationInvalidError(f"The Nitro attestation document is CBOR tag {message.tag}, not COSE_Sign1.")
        message = message.value
    # cbor2 6 decodes an array inside a tag as a tuple.
    if not isinstance(message, list | tuple) or len(message) != 4:
        raise AttestationInvalidError("The Nitro attestation document is not a COSE_Sign1 (an array of four).")
    protected, _unprotected, payload, signature = message
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise AttestationInvalidError(
            "The Nitro attestation document's COSE_Sign1 is malformed (byte strings expected)."
        )
    return protected, payload, signature


def _document(payload: bytes) -> dict[str, Any]:
    """The payload's fields, each of the type the NSM gives it; null optional fields are left out."""
    try:
        document = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError):
        raise AttestationInvalidError("The Nitro attestation document's payload is not CBOR.") from None
    if not isinstance(document, Mapping):
        raise AttestationInvalidError("The Nitro attestation document's payload is not a map.")
    document = {key: value for key, value in document.items() if value is not None}
    required = {
        "module_id": str,
        "digest": str,
        "timestamp": int,
        "pcrs": Mapping,
        "certificate": bytes,
        "cabundle": list | tuple,
    }
    for name, kind in required.items():
        if not isinstance(document.get(name), kind) or isinstance(document.get(name), bool):
            raise AttestationInvalidError(f"The Nitro attestation document has no valid {name}.")
    for name in ("public_key", "user_data", "nonce"):
        if name in document and not isinstance(document[name], bytes):
            raise AttestationInvalidError(f"The Nitro attestation document's {name} is not a byte string.")
    if document["digest"] != "SHA384":
        raise AttestationInvalidError(f"The Nitro attestation document's digest is {document['digest']!r}, not SHA384.")
    return document


def _certificate(der: Any, what: str) -> x509.Certificate:
    if not isinstance(der, bytes):
        raise AttestationInvalidError(f"{what.capitalize()} is not DER bytes.")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise AttestationInvalidError(f"{what.capitalize()} is not a DER certificate.") from None


# --- The chain and the signature ----------------------------------------------------------------------------


def _chain(verifier: Verifier, leaf: x509.Certificate, cabundle: Sequence[Any]) -> list[tuple[str, x509.Certificate]]:
    """The leaf, then the bundle from its last intermediate back to its root, each checked to be issued by the next,
    and the root the verifier's own; each with how messages name it."""
    if not cabundle:
        raise AttestationInvalidError("The Nitro attestation document's cabundle is empty: it must start at the root.")
    bundle = [_certificate(der, f"cabundle[{index}]") for index, der in enumerate(cabundle)]
    _check_root(verifier, bundle[0])
    chain = [("the leaf certificate", leaf)] + [
        (f"cabundle[{index}]", bundle[index]) for index in range(len(bundle) - 1, -1, -1)
    ]
    for (what, certificate), (issuer_what, issuer) in itertools.pairwise(chain):
        _check_issued_by(certificate, what, issuer, issuer_what)
    return chain


def _check_root(verifier: Verifier, root: x509.Certificate) -> None:
    if verifier.root_cert_file is None:
        raise AttestationInvalidError(f"Verifier {verifier.name} has no root_cert_file to check the chain against.")
    # Read at each check (it is small): a root replaced in place is used from the next document on.
    try:
        trusted = x509.load_pem_x509_certificates(verifier.root_cert_file.read_bytes())
    except (OSError, ValueError):
        raise AttestationInvalidError(
            f"The root_cert_file of verifier {verifier.name} ({verifier.root_cert_file}) cannot be read as PEM."
        ) from None
    for anchor in trusted:
        if anchor == root or (anchor.subject == root.subject and anchor.public_key() == root.public_key()):
            return
    raise AttestationInvalidError(
        f"The Nitro attestation document's root (cabundle[0], {root.subject.rfc4514_string()}) is not the root "
        f"of verifier {verifier.name} (its root_cert_file): an unknown root."
    )


def _check_validity(certificate: x509.Certificate, what: str, now: datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise AttestationInvalidError(
            f"In the Nitro chain, {what} is not valid yet (from {certificate.not_valid_before_utc.isoformat()})."
        )
    if now > certificate.not_valid_after_utc:
        raise AttestationInvalidError(
            f"In the Nitro chain, {what} has expired (on {certificate.not_valid_after_utc.isoformat()})."
        )


def _check_issued_by(certificate: x509.Certificate, what: str, issuer: x509.Certificate, issuer_what: str) -> None:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise AttestationInvalidError(f"In the Nitro chain, {issuer_what} is not a CA, so it cannot issue {what}.")
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise AttestationInvalidError(
            f"The Nitro chain is broken: {what} ({certificate.subject.rfc4514_string()}) is not issued by "
            f"{issuer_what} ({issuer.subject.rfc4514_string()})."
        ) from None


def _check_signature(leaf: x509.Certificate, protected: bytes, payload: bytes, signature: bytes) -> None:
    try:
        header = cbor2.loads(protected) if protected else {}
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError):
        raise AttestationInvalidError("The Nitro attestation document's protected header is not CBOR.") from None
    alg = header.get(COSE_ALG) if isinstance(header, Mapping) else None
    if alg != ES384:
        raise AttestationInvalidError(
            f"The Nitro attestation document is signed with COSE algorithm {alg!r}; only ES384 (-35) is accepted."
        )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise AttestationInvalidError("The Nitro leaf certificate's key is not a P-384 key, which ES384 needs.")
    if len(signature) != 2 * ES384_HALF_BYTES:
        raise AttestationInvalidError(
            "The Nitro attestation document's signature is not an ES384 signature (96 bytes)."
        )
    # COSE gives the signature as r || s; cryptography wants it DER-encoded.
    half = ES384_HALF_BYTES
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    # RFC 9052 section 4.4: what was signed is the Sig_structure, not the payload alone.
    signed = cbor2.dumps(["Signature1", protected, b"", payload])
    try:
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise AttestationInvalidError(
            "The Nitro attestation document's signature does not verify with its leaf certificate's key."
        ) from None


# --- What the document says ---------------------------------------------------------------------------------


def _check_fresh(timestamp: int, now: datetime) -> None:
    """A document is as fresh as the nonce it carries must be: no older than a nonce lives, with the skew."""
    skew = settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS
    oldest = settings.ACCORD_ATTESTATION_NONCE_SECONDS + skew
    age = now.timestamp() - timestamp / 1000
    if age > oldest:
        raise AttestationExpiredError(
            f"The Nitro attestation document is {int(age)} s old (timestamp); it may be at most {oldest} s old "
            "(a nonce's lifetime and the clock skew)."
        )
    if -age > skew:
        raise AttestationExpiredError(
            f"The Nitro attestation document is not valid yet: its timestamp is {int(-age)} s ahead "
            f"(the clock skew allowed is {skew} s)."
        )


def _pcrs(pcrs: Mapping[Any, Any]) -> dict[int, str]:
    """The PCRs as lower-case hex by index; PCRs 0-2 must each be 48 bytes (SHA-384)."""
    for index, value in pcrs.items():
        if isinstance(index, bool) or not isinstance(index, int) or not isinstance(value, bytes):
            raise AttestationInvalidError("The Nitro attestation document's pcrs must map indexes to byte strings.")
    for index in MEASURED_PCRS:
        if len(pcrs.get(index, b"")) != PCR_BYTES:
            raise AttestationInvalidError(
                f"The Nitro attestation document's PCR{index} is missing or not {PCR_BYTES} bytes (SHA-384)."
            )
    return {index: value.hex() for index, value in pcrs.items()}


def _claims(document: Mapping[str, Any], pcrs: Mapping[int, str]) -> dict[str, Any]:
    # Keys as strings, so a claims policy names a PCR as "pcrs.0".
    claims: dict[str, Any] = {
        "module_id": document["module_id"],
        "digest": document["digest"],
        "timestamp": document["timestamp"],
        "pcrs": {str(index): value for index, value in sorted(pcrs.items())},
    }
    if "user_data" in document:
        claims["user_data"] = base64.b64encode(document["user_data"]).decode()
    return claims


def _nonce(value: bytes | None) -> str:
    if not value:
        raise AttestationReplayedError(
            "The Nitro attestation document carries no nonce: put the nonce from POST /api/v1/attestation/nonce "
            "in the document's nonce (as its ASCII bytes) when asking the NSM for it."
        )
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise AttestationInvalidError(
            "The Nitro attestation document's nonce is not ASCII: put the nonce string's bytes there."
        ) from None


def _enclave_key(value: bytes | None) -> dict[str, Any] | None:
    """The enclave's public key (DER SubjectPublicKeyInfo, or PEM) as a public JWK, when the document has one."""
    if value is None:
        return None
    try:
        key = (
            serialization.load_pem_public_key(value)
            if value.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_public_key(value)
        )
    except (ValueError, TypeError):
        raise AttestationInvalidError(
            "The Nitro attestation document's public_key is not a public key (DER SubjectPublicKeyInfo or PEM)."
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        return dict(jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True))
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            return dict(jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True))
        except jwt.InvalidKeyError:
            raise AttestationInvalidError(
                "The Nitro attestation document's public_key is on a curve a JWK cannot name."
            ) from None
    raise AttestationInvalidError("The Nitro attestation document's public_key must be an RSA or EC key.")
