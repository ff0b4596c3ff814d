"""NVIDIA NRAS evidence: the detached EAT (an overall token and one token per GPU, ES384) verified against the
keys nvidia-prod's worker fetched from a loopback JWKS, all made by the attestation kit."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from governance.attestation.nonces import nonce_issue
from governance.attestation.verifiers import AttestationError, attestation_verify, evidence_check
from tests.attestation_kit import AZURE_KEY, OTHER_EC_KEY, nvidia_gpu_token


def refused(principal, evidence) -> AttestationError:
    with pytest.raises(AttestationError) as raised:
        attestation_verify(principal=principal, verifier="nvidia-prod", evidence=evidence)
    return raised.value


@pytest.fixture
def nonce(db, a_principal):
    return nonce_issue(a_principal).value


# --- Good evidence ------------------------------------------------------------------------------------------


def test_good_evidence_for_two_gpus_verifies_and_spends_its_nonce(attestation_kit, a_principal, nonce):
    evidence = attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"))
    verified = attestation_verify(principal=a_principal, verifier="nvidia-prod", evidence=evidence)
    assert verified.verifier.kind == "nvidia" and verified.nonce == nonce
    assert verified.claims["x-nvidia-overall-att-result"] is True
    assert sorted(verified.gpus) == ["GPU-0", "GPU-1"]
    assert verified.gpus["GPU-1"]["measres"] == "success" and verified.gpus["GPU-1"]["dbgstat"] == "disabled"
    assert verified.measurement is None and verified.enclave_key is None
    assert verified.digest == hashlib.sha256(evidence.encode()).hexdigest()
    again = refused(a_principal, evidence)
    assert again.code == "attestation_replayed" and "already used" in str(again)


def test_evidence_given_as_the_json_value_verifies_with_the_digest_of_its_compact_form(attestation_kit, nonce):
    value = json.loads(attestation_kit.nvidia(nonce))
    verified = evidence_check(verifier="nvidia-prod", evidence=value)
    compact = json.dumps(value, separators=(",", ":"))
    assert verified.nonce == nonce and verified.digest == hashlib.sha256(compact.encode()).hexdigest()


def test_submods_may_name_sha256_without_a_dash_and_give_the_digest_in_base64url(attestation_kit, nonce):
    evidence = attestation_kit.nvidia(nonce, digest_name="SHA256", digest_encoding="base64url")
    assert evidence_check(verifier="nvidia-prod", evidence=evidence).gpus["GPU-0"]["secboot"] is True


def test_a_gpu_policy_would_refuse_is_still_verified_evidence(attestation_kit, nonce):
    """Whether NVIDIA found the GPU good is the charter's claims policy's question, not the verifier's."""
    evidence = attestation_kit.nvidia(
        nonce, gpu_claims={"measres": "fail"}, overall_claims={"x-nvidia-overall-att-result": False}
    )
    verified = evidence_check(verifier="nvidia-prod", evidence=evidence)
    assert verified.gpus["GPU-0"]["measres"] == "fail" and verified.claims["x-nvidia-overall-att-result"] is False


# --- Signatures, issuers, algorithms ------------------------------------------------------------------------


def test_a_forged_overall_token_is_invalid_and_leaves_the_nonce_unspent(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, key=OTHER_EC_KEY))
    assert error.code == "attestation_invalid"
    assert "overall token's signature does not verify with key nvidia-1 of verifier nvidia-prod" in str(error)
    assert attestation_verify(principal=a_principal, verifier="nvidia-prod", evidence=attestation_kit.nvidia(nonce))


def test_a_forged_gpu_token_is_invalid_naming_the_gpu(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"), gpu_key=OTHER_EC_KEY))
    assert error.code == "attestation_invalid" and "GPU-0 token's signature does not verify" in str(error)


def test_an_overall_token_from_another_issuer_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, overall_claims={"iss": "https://nras.evil.example"}))
    assert error.code == "attestation_invalid"
    assert "overall token is issued by 'https://nras.evil.example'" in str(error)


def test_a_gpu_token_from_another_issuer_is_invalid(attestation_kit, a_principal, nonce):
    evidence = attestation_kit.nvidia(
        nonce, gpus=("GPU-0", "GPU-1"), claims_by_gpu={"GPU-1": {"iss": "https://nras.evil.example"}}
    )
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid" and "GPU-1 token is issued by 'https://nras.evil.example'" in str(error)


def test_a_token_naming_an_unknown_key_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, kid="nvidia-9"))
    assert error.code == "attestation_invalid" and "'nvidia-9'" in str(error) and "unknown kid" in str(error)


def test_a_token_signed_rs256_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, key=AZURE_KEY, alg="RS256"))
    assert error.code == "attestation_invalid" and "'RS256'" in str(error) and "accepts only ES384" in str(error)


# --- The GPU tokens belong to the overall token -------------------------------------------------------------


def test_a_gpu_token_swapped_in_from_another_attestation_is_invalid(attestation_kit, a_principal, nonce):
    """The lifted token is NRAS's own, well signed and still valid, and even carries the same nonce: only the
    digest in the overall token's submods tells it is not of this attestation."""
    other = attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"), gpu_claims={"measres": "success"})
    evidence = attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"), swap={"GPU-1": nvidia_gpu_token(other, "GPU-1")})
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid"
    assert "GPU-1 token is not the one the overall token's submods lists" in str(error)


def test_a_gpu_token_left_out_is_invalid(attestation_kit, a_principal, nonce):
    value = json.loads(attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1")))
    del value[1]["GPU-1"]
    error = refused(a_principal, value)
    assert error.code == "attestation_invalid" and "lists GPU-1 in submods" in str(error)


def test_a_gpu_token_the_overall_token_does_not_list_is_invalid(attestation_kit, a_principal, nonce):
    evidence = attestation_kit.nvidia(nonce, swap={"GPU-7": nvidia_gpu_token(attestation_kit.nvidia(nonce))})
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid" and "GPU-7 token is not listed" in str(error)


def test_submods_with_another_digest_algorithm_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, digest_name="SHA-1"))
    assert error.code == "attestation_invalid" and "only SHA-256 digests are understood" in str(error)


def test_an_overall_token_without_submods_is_invalid(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, overall_claims={"submods": None}))
    assert error.code == "attestation_invalid" and "has no submods" in str(error)


# --- Times --------------------------------------------------------------------------------------------------


def test_an_expired_overall_token_is_expired(attestation_kit, a_principal, nonce, settings):
    settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 60
    now = int(time.time())
    evidence = attestation_kit.nvidia(nonce, overall_claims={"iat": now - 900, "nbf": now - 900, "exp": now - 120})
    error = refused(a_principal, evidence)
    assert error.code == "attestation_expired" and "overall token expired" in str(error) and "60 s" in str(error)


def test_an_expired_gpu_token_is_expired_naming_the_gpu(attestation_kit, a_principal, nonce):
    now = int(time.time())
    evidence = attestation_kit.nvidia(
        nonce, gpus=("GPU-0", "GPU-1"), claims_by_gpu={"GPU-1": {"iat": now - 900, "exp": now - 300}}
    )
    error = refused(a_principal, evidence)
    assert error.code == "attestation_expired" and "GPU-1 token expired" in str(error)


def test_an_overall_token_not_valid_yet_is_expired(attestation_kit, a_principal, nonce):
    now = int(time.time())
    evidence = attestation_kit.nvidia(nonce, overall_claims={"nbf": now + 600, "exp": now + 1200})
    error = refused(a_principal, evidence)
    assert error.code == "attestation_expired" and "overall token is not valid yet" in str(error)


# --- Nonces -------------------------------------------------------------------------------------------------


def test_an_unknown_nonce_is_replayed(attestation_kit, a_principal, db):
    error = refused(a_principal, attestation_kit.nvidia("never-issued"))
    assert error.code == "attestation_replayed" and "unknown" in str(error)


def test_evidence_without_a_nonce_is_replayed(attestation_kit, a_principal, nonce):
    error = refused(a_principal, attestation_kit.nvidia(nonce, overall_claims={"eat_nonce": None}))
    assert error.code == "attestation_replayed" and "carries no eat_nonce" in str(error)


def test_a_gpu_token_for_another_nonce_is_invalid(attestation_kit, a_principal, nonce):
    evidence = attestation_kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"), claims_by_gpu={"GPU-1": {"eat_nonce": "x"}})
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid" and "GPU-1 token's eat_nonce differs" in str(error)


# --- Malformed evidence -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "phrase"),
    [
        ("not json at all", "is not JSON"),
        ('{"GPU-0": "token"}', "an array of two entries"),
        (42, "must be a JSON array or a string holding one"),
        ([["JWS", "token"], {"GPU-0": "token"}], 'first entry must be ["JWT", "<overall token>"]'),
        ([["JWT", "token"], {}], "carries no GPU tokens"),
        ([["JWT", "token"], {"GPU-0": 7}], "GPU-0 token must be a JWT"),
        ([["JWT", "not-a-token"], {"GPU-0": "token"}], "overall token is not a well-formed JWT"),
    ],
)
def test_malformed_evidence_is_invalid_and_says_what_to_send(attestation_kit, a_principal, db, evidence, phrase):
    error = refused(a_principal, evidence)
    assert error.code == "attestation_invalid" and phrase in str(error)
    if "overall token is not" not in phrase:
        assert "send NRAS's answer as it came" in str(error)
