"""AWS Nitro attestation documents: COSE_Sign1 signed with pycose by a leaf of the kit's test CA, verified by
nitro-prod with cbor2 and cryptography against the root in its root_cert_file."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from pycose.algorithms import Es256

from governance.attestation.nonces import nonce_issue
from governance.attestation.verifiers import AttestationError, attestation_verify, evidence_check
from tests.attestation_kit import NitroChain, ec_key, issue, jwk, nitro_chain, public_der


def refused(principal, evidence) -> AttestationError:
    with pytest.raises(AttestationError) as raised:
        attestation_verify(principal=principal, verifier="nitro-prod", evidence=evidence)
    return raised.value


@pytest.fixture
def nonce(db, a_principal):
    return nonce_issue(a_principal).value


# --- Good documents -----------------------------------------------------------------------------------------


def test_a_good_document_verifies_and_spends_its_nonce(attestation_kit, a_principal, nonce):
    document = attestation_kit.nitro(nonce, user_data=b"hello")
    verified = attestation_verify(principal=a_principal, verifier="nitro-prod", evidence=document)
    assert verified.verifier.kind == "nitro" and verified.nonce == nonce
    assert verified.measurement == attestation_kit.measurements["nitro-prod"]
    assert verified.measurement.values["pcr0"] == attestation_kit.pcrs[0]
    assert verified.claims["pcrs"]["2"] == attestation_kit.pcrs[2] and verified.claims["pcrs"]["3"] == "00" * 48
    assert verified.claims["digest"] == "SHA384" and verified.claims["user_data"] == base64.b64encode(b"hello").decode()
    assert verified.digest == hashlib.sha256(base64.b64decode(document)).hexdigest()
    expected = {key: value for key, value in attestation_kit.enclave_jwk.items() if key != "kid"}
    assert verified.enclave_key == expected
    again = refused(a_principal, document)
    assert again.code == "attestation_replayed" and "already used" in str(again)


def test_an_untagged_document_in_url_safe_base64_without_padding_verifies(attestation_kit, nonce):
    document = attestation_kit.nitro(nonce, tag=False, urlsafe=True)
    assert "=" not in document
    assert evidence_check(verifier="nitro-prod", evidence=document).nonce == nonce


def test_an_ec_enclave_key_in_pem_is_answered_as_a_jwk(attestation_kit, nonce):
    key = ec_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    verified = evidence_check(verifier="nitro-prod", evidence=attestation_kit.nitro(nonce, public_key=pem))
    assert verified.enclave_key == {k: v for k, v in jwk(key, "x").items() if k != "kid"}
    assert verified.enclave_key["crv"] == "P-256"


def test_a_document_without_a_public_key_has_no_enclave_key_or_user_data(attestation_kit, nonce):
    verified = evidence_check(verifier="nitro-prod", evidence=attestation_kit.nitro(nonce, public_key=None))
    assert verified.enclave_key is None and "user_data" not in verified.claims


# --- Signature and algorithm --------------------------------------------------------------------------------


def test_a_document_signed_by_another_key_is_invalid_and_leaves_the_nonce_unspent(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nitro(nonce, key=ec_key()))
    assert error.code == "attestation_invalid" and "signature does not verify with its leaf certificate" in str(error)
    assert attestation_verify(principal=a_principal, verifier="nitro-prod", evidence=attestation_kit.nitro(nonce))


def test_a_document_signed_es256_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nitro(nonce, alg=Es256, key=ec_key(ec.SECP256R1())))
    assert error.code == "attestation_invalid" and "COSE algorithm -7; only ES384 (-35)" in str(error)


# --- The chain ----------------------------------------------------------------------------------------------


def test_a_chain_to_an_unknown_root_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nitro(nonce, chain=nitro_chain("evil.nitro-enclaves")))
    assert error.code == "attestation_invalid" and "an unknown root" in str(error) and "evil" in str(error)


def test_a_leaf_signed_by_a_ca_not_in_the_bundle_is_invalid(attestation_kit, a_principal, nonce):
    """A second intermediate under the same root signed the leaf, but the bundle carries only the first."""
    trusted = attestation_kit.nitro_chain
    other = nitro_chain(root=trusted.root)
    error = refused(a_principal, attestation_kit.nitro(nonce, chain=other, cabundle=trusted.cabundle()))
    assert error.code == "attestation_invalid"
    assert "chain is broken: the leaf certificate" in str(error) and "not issued by cabundle[1]" in str(error)


def test_a_bundle_missing_the_intermediate_is_invalid(attestation_kit, a_principal, nonce):
    document = attestation_kit.nitro(nonce, cabundle=[attestation_kit.nitro_chain.root.der])
    error = refused(a_principal, document)
    assert error.code == "attestation_invalid" and "not issued by cabundle[0]" in str(error)


def test_an_intermediate_that_is_not_a_ca_is_invalid(attestation_kit, a_principal, nonce):
    root = attestation_kit.nitro_chain.root
    intermediate = issue("not a CA", issuer=root, ca=False)
    leaf = issue("leaf", issuer=intermediate, ca=False)
    chain = NitroChain(root, intermediate, leaf)
    error = refused(a_principal, attestation_kit.nitro(nonce, chain=chain))
    assert error.code == "attestation_invalid" and "cabundle[1] is not a CA" in str(error)


def test_an_expired_leaf_certificate_is_invalid(attestation_kit, a_principal, nonce):
    now = timezone.now()
    chain = nitro_chain(
        root=attestation_kit.nitro_chain.root,
        leaf_not_before=now - timedelta(hours=4),
        leaf_not_after=now - timedelta(hours=1),
    )
    error = refused(a_principal, attestation_kit.nitro(nonce, chain=chain))
    assert error.code == "attestation_invalid" and "the leaf certificate has expired" in str(error)


def test_a_leaf_certificate_not_valid_yet_is_invalid(attestation_kit, a_principal, nonce):
    now = timezone.now()
    chain = nitro_chain(root=attestation_kit.nitro_chain.root, leaf_not_before=now + timedelta(hours=1))
    error = refused(a_principal, attestation_kit.nitro(nonce, chain=chain))
    assert error.code == "attestation_invalid" and "the leaf certificate is not valid yet" in str(error)


# --- Freshness ----------------------------------------------------------------------------------------------


def test_a_document_older_than_a_nonce_lives_is_expired(attestation_kit, a_principal, nonce, settings):
    settings.ACCORD_ATTESTATION_NONCE_SECONDS, settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 300, 60
    old = int((time.time() - 400) * 1000)
    error = refused(a_principal, attestation_kit.nitro(nonce, timestamp_ms=old))
    assert error.code == "attestation_expired" and "it may be at most 360 s old" in str(error)


def test_a_document_old_within_a_nonce_lifetime_and_the_skew_verifies(attestation_kit, nonce, settings):
    settings.ACCORD_ATTESTATION_NONCE_SECONDS, settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 300, 60
    document = attestation_kit.nitro(nonce, timestamp_ms=int((time.time() - 330) * 1000))
    assert evidence_check(verifier="nitro-prod", evidence=document).nonce == nonce


def test_a_document_from_the_future_is_expired(attestation_kit, a_principal, nonce, settings):
    settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 60
    error = refused(a_principal, attestation_kit.nitro(nonce, timestamp_ms=int((time.time() + 600) * 1000)))
    assert error.code == "attestation_expired" and "not valid yet" in str(error) and "60 s" in str(error)


# --- Nonces -------------------------------------------------------------------------------------------------


def test_an_unknown_nonce_is_replayed(attestation_kit, a_principal, db):
    error = refused(a_principal, attestation_kit.nitro("never-issued"))
    assert error.code == "attestation_replayed" and "unknown" in str(error)


def test_a_document_without_a_nonce_is_replayed_saying_where_to_put_it(attestation_kit, a_principal, db):
    error = refused(a_principal, attestation_kit.nitro(None))
    assert error.code == "attestation_replayed" and "in the document's nonce" in str(error)


# --- What the document carries ------------------------------------------------------------------------------


def test_a_document_missing_pcr2_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nitro(nonce, pcrs={0: attestation_kit.pcrs[0], 1: "00" * 48}))
    assert error.code == "attestation_invalid" and "PCR2 is missing or not 48 bytes" in str(error)


def test_a_pcr_of_the_wrong_size_is_invalid(attestation_kit, a_principal, nonce):
    pcrs = {0: "00" * 32, 1: attestation_kit.pcrs[1], 2: attestation_kit.pcrs[2]}
    error = refused(a_principal, attestation_kit.nitro(nonce, pcrs=pcrs))
    assert error.code == "attestation_invalid" and "PCR0 is missing or not 48 bytes" in str(error)


def test_a_public_key_that_is_not_a_key_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nitro(nonce, public_key=b"not a key"))
    assert error.code == "attestation_invalid" and "public_key is not a public key" in str(error)


def test_an_rsa_enclave_key_in_der_is_answered_as_a_jwk(attestation_kit, nonce):
    key = attestation_kit.enclave_private_key
    verified = evidence_check(verifier="nitro-prod", evidence=attestation_kit.nitro(nonce, public_key=public_der(key)))
    assert verified.enclave_key is not None and verified.enclave_key["kty"] == "RSA"


# --- Garbage ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "phrase"),
    [
        ("", "in base64, a string"),
        (["not", "a", "string"], "in base64, a string"),
        ("not base64 at all!", "is not base64"),
        (base64.b64encode(b"\x68hel").decode(), "is not CBOR"),
        (base64.b64encode(cbor2.dumps({"a": 1})).decode(), "not a COSE_Sign1"),
        (base64.b64encode(cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", []]))).decode(), "tag 98, not COSE_Sign1"),
        (base64.b64encode(cbor2.dumps([b"", {}, b"\xff", b""])).decode(), "payload is not CBOR"),
        (base64.b64encode(cbor2.dumps([b"", {}, cbor2.dumps({"digest": "SHA384"}), b""])).decode(), "no valid"),
    ],
)
def test_garbage_is_invalid(attestation_kit, a_principal, db, evidence, phrase):
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid" and phrase in str(error)
