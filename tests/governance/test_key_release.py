"""Key release to attested enclaves (issue 26): the data key comes back only as a JWE to the enclave key the CPU TEE
evidence carried, only when the decision allows; the ciphertext streams to whoever a grant lets act; the trail
keeps the release with its evidence, and never the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from accounts.services import actor_for
from audit.models import Event
from charters.models import AssetVersion
from governance.models import Artefact, DataKey
from governance.vault import artefacts, destruction
from tests.attestation_kit import OTHER_KEY, ec_key, public_der
from tests.faults import loopback_peer
from tests.governance import test_attestation_decisions as attested_world
from tests.governance.test_attestation_decisions import attested, nonce, open_session

# The attested world of the decision tests: its kit, its allow-list and its gateway.
gateway = attested_world.gateway
kit = attested_world.kit
live_charter = attested_world.live_charter
serving = attested_world.serving


PURPOSE = "safety-evaluation"
WEIGHTS = os.urandom(2500)  # three chunks of 1 KiB once chunks are small (the last one short)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(artefacts, "CHUNK", 1024)


@pytest.fixture
def weights(atlas, officer, small_chunks) -> Artefact:
    """atlas-7b 1.0's weights, in the encrypted store under the version's data key."""
    version = AssetVersion.objects.get(fingerprint=atlas)
    return artefacts.artefact_store(
        source=io.BytesIO(WEIGHTS),
        name="model.safetensors",
        kind=Artefact.Kind.ASSET_FILE,
        asset_version=version,
        by=actor_for(officer),
    )


def release(caller, asset, **given) -> Any:
    body = {"asset": asset, "action": "infer", "purpose": PURPOSE, **given}
    return caller.client.post("/api/v1/key-release", body, format="json")


def ciphertext(caller, uid, session="", action="infer", purpose=PURPOSE) -> Any:
    headers = {"HTTP_ACCORD_SESSION": session} if session else {}
    return caller.client.get(f"/api/v1/artefacts/{uid}/ciphertext", {"action": action, "purpose": purpose}, **headers)


def decrypted(ciphertext: bytes, key: bytes, uid: str) -> bytes:
    """The documented format, read independently of the vault's own reader: MAGIC | prefix (8) | chunk size (4) |
    chunks of size + 16, each AES-256-GCM with nonce prefix | index and the associated data that binds its place."""
    magic = b"ACCORD-AEAD-1\n"
    assert ciphertext.startswith(magic)
    prefix = ciphertext[len(magic) : len(magic) + 8]
    size = int.from_bytes(ciphertext[len(magic) + 8 : len(magic) + 12], "big")
    body = ciphertext[len(magic) + 12 :]
    pieces = [body[start : start + size + 16] for start in range(0, len(body), size + 16)] or [b""]
    plain = b""
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        aad = f"accord artefact:{uid}:{size}:{index}:{int(last)}".encode()
        plain += AESGCM(key).decrypt(prefix + index.to_bytes(4, "big"), piece, aad)
    return plain


def streamed(response) -> bytes:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def session_token(gateway, atlas, kit) -> str:
    opened = open_session(gateway, atlas, attested("azure-prod", kit.azure(nonce(gateway))))
    assert opened.status_code == 201, opened.content
    token: str = opened.json()["session"]
    return token


# --- Released, and only the enclave can open it ------------------------------------------------------------


def test_a_released_key_unwraps_only_with_the_enclaves_private_key_and_decrypts_the_ciphertext(
    gateway, make_grant, atlas, kit, weights
):
    make_grant(requires_attestation=True)
    session = session_token(gateway, atlas, kit)
    response = release(gateway, atlas, session=session)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["alg"] == "RSA-OAEP-256" and answer["enc"] == "A256GCM"
    assert answer["key_id"] == weights.data_key.key_id and answer["asset"] == atlas
    enclave = RSAKey.import_key(kit.enclave_private_key)
    assert answer["enclave_key"] == enclave.thumbprint()

    opened = jwe.decrypt_compact(answer["jwe"], enclave, algorithms=["RSA-OAEP-256", "A256GCM"])
    key = opened.plaintext
    assert opened.protected["kid"] == enclave.thumbprint() and len(key) == 32
    assert hmac.new(key, b"accord data key check", hashlib.sha256).hexdigest() == answer["key_check"]
    with pytest.raises(JoseError):
        jwe.decrypt_compact(answer["jwe"], RSAKey.import_key(OTHER_KEY), algorithms=["RSA-OAEP-256", "A256GCM"])

    [listed] = answer["artefacts"]
    assert listed["uid"] == weights.uid and listed["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    fetched = gateway.client.get(
        listed["ciphertext_url"], {"action": "infer", "purpose": PURPOSE}, HTTP_ACCORD_SESSION=session
    )
    assert fetched["Accord-Key-Id"] == answer["key_id"] and fetched["Accord-Artefact"] == weights.uid
    body = streamed(fetched)
    assert len(body) == int(fetched["Content-Length"]) and WEIGHTS not in body
    assert decrypted(body, key, weights.uid) == WEIGHTS


def test_an_ec_enclave_key_gets_ecdh_es_and_fresh_evidence_releases_without_a_session(
    gateway, make_grant, atlas, kit, weights
):
    make_grant(requires_attestation=True)
    private = ec_key(ec.SECP256R1())
    evidence = kit.nitro(nonce(gateway), public_key=public_der(private))
    response = release(gateway, atlas, attestation=attested("nitro-prod", evidence))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["alg"] == "ECDH-ES+A256KW"
    opened = jwe.decrypt_compact(answer["jwe"], ECKey.import_key(private), algorithms=["ECDH-ES+A256KW", "A256GCM"])
    assert hmac.new(opened.plaintext, b"accord data key check", hashlib.sha256).hexdigest() == answer["key_check"]
    with pytest.raises(JoseError):
        jwe.decrypt_compact(answer["jwe"], ECKey.generate_key("P-256"), algorithms=["ECDH-ES+A256KW", "A256GCM"])
    # The evidence's nonce is spent: the same evidence releases nothing twice.
    again = release(gateway, atlas, attestation=attested("nitro-prod", evidence))
    assert again.status_code == 403 and again.json()["error"]["code"] == "attestation_replayed"


def test_the_trail_records_the_release_with_its_evidence_and_never_the_key(
    gateway, make_grant, atlas, kit, weights, caplog
):
    make_grant(requires_attestation=True)
    caplog.set_level(logging.DEBUG)
    session = session_token(gateway, atlas, kit)
    answer = release(gateway, atlas, session=session).json()
    key = jwe.decrypt_compact(
        answer["jwe"], RSAKey.import_key(kit.enclave_private_key), algorithms=["RSA-OAEP-256", "A256GCM"]
    ).plaintext
    released = Event.objects.get(action="key.released")
    assert released.partner == "northwind" and released.actor_label == "northwind-gateway"
    details = released.details
    assert details["decision_id"] == answer["decision_id"] and details["key_id"] == answer["key_id"]
    assert details["enclave_key"] == answer["enclave_key"] and details["alg"] == "RSA-OAEP-256"
    assert details["attestation"]["verifier"] == "azure-prod"
    measured = {"platform": "snp", "launch_measurement": kit.snp_measurement}
    assert details["attestation"]["measurement"] == measured
    assert len(details["attestation"]["evidence"]) == 64
    assert Event.objects.filter(action="decision.allow", details__decision_id=answer["decision_id"]).exists()
    # The key in any spelling, anywhere: the answers, the trail, the logs.
    spellings = [key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")]
    everything = " ".join(str(event.details) + event.reason for event in Event.objects.all()) + caplog.text
    assert not any(spelling in everything for spelling in spellings)
    assert not any(spelling in str(answer) for spelling in spellings)


# --- Refused -----------------------------------------------------------------------------------------------


def test_a_denied_decision_releases_nothing_and_says_why(gateway, make_grant, atlas, kit, weights):
    make_grant(requires_attestation=True)
    debuggable = kit.azure(nonce(gateway), **{"x-ms-sevsnpvm-is-debuggable": True})
    response = release(gateway, atlas, attestation=attested("azure-prod", debuggable))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "attestation_claims_unmet" and "x-ms-sevsnpvm-is-debuggable" in error["message"]
    assert Event.objects.filter(action="decision.deny", details__decision_id=error["decision_id"]).exists()
    assert not Event.objects.filter(action="key.released").exists()


def test_evidence_without_an_enclave_key_releases_nothing_though_the_decision_allows(
    gateway, make_grant, atlas, kit, weights
):
    make_grant(requires_attestation=True)
    response = release(gateway, atlas, attestation=attested("nitro-prod", kit.nitro(nonce(gateway), public_key=None)))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "enclave_key_missing" and "public_key" in error["message"]
    assert Event.objects.filter(action="decision.allow", details__decision_id=error["decision_id"]).exists()
    refused = Event.objects.get(action="key.release_refused")
    assert refused.details == {"decision_id": error["decision_id"], "code": "enclave_key_missing"}


@pytest.mark.parametrize(
    "given",
    [{}, {"session": "ses_x", "attestation": {"verifier": "azure-prod", "evidence": "x"}}],
    ids=["neither", "both"],
)
def test_a_release_names_a_session_or_evidence_exactly_once(gateway, atlas, given):
    response = release(gateway, atlas, **given)
    assert response.status_code == 400
    assert "Give session (an attested session) or attestation" in response.json()["error"]["message"]


def test_nothing_stored_is_nothing_to_release(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    response = release(gateway, atlas, session=session_token(gateway, atlas, kit))
    assert response.status_code == 404 and response.json()["error"]["code"] == "nothing_to_release"


def test_a_key_scheduled_for_destruction_is_no_longer_released(gateway, make_grant, atlas, kit, weights, officer):
    make_grant(requires_attestation=True)
    destruction.destruction_schedule(data_key=weights.data_key, by=actor_for(officer), reason="The charter ends.")
    response = release(gateway, atlas, session=session_token(gateway, atlas, kit))
    assert response.status_code == 409 and response.json()["error"]["code"] == "key_unavailable"
    assert DataKey.objects.get(pk=weights.data_key_id).status == DataKey.Status.PENDING_DESTRUCTION


def test_a_person_cannot_ask_for_a_key(api_as, a_admin, atlas):
    response = release(api_as(a_admin), atlas, session="ses_x")
    assert response.status_code == 403 and "principal" in response.json()["error"]["message"]


# --- Ciphertext --------------------------------------------------------------------------------------------


def test_the_ciphertext_needs_the_attestation_the_action_needs(gateway, make_grant, atlas, kit, weights):
    make_grant(requires_attestation=True)
    refused = ciphertext(gateway, weights.uid)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "attestation_required"
    assert streamed(ciphertext(gateway, weights.uid, session=session_token(gateway, atlas, kit)))


def test_an_unknown_file_and_another_partners_answer_alike(api_as, b_principal, gateway, make_grant, atlas, weights):
    make_grant(requires_attestation=True)
    unknown = ciphertext(gateway, "0" * 32)
    others = ciphertext(api_as(b_principal), weights.uid)
    assert unknown.status_code == others.status_code == 403
    assert unknown.json()["error"]["code"] == others.json()["error"]["code"] == "no_grant"
    assert unknown.json()["error"]["message"] == others.json()["error"]["message"]
    assert weights.uid not in others.content.decode() and atlas not in others.content.decode()


def test_the_ciphertext_query_is_checked(gateway, weights):
    response = gateway.client.get(f"/api/v1/artefacts/{weights.uid}/ciphertext")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"action", "purpose"}


@pytest.mark.parametrize("fault", ["refuse", "silent"])
def test_a_nonce_store_that_fails_releases_nothing_and_says_retry(
    gateway, make_grant, atlas, kit, weights, settings, fault
):
    make_grant(requires_attestation=True)
    evidence = attested("azure-prod", kit.azure(nonce(gateway)))
    with loopback_peer() as peer:
        getattr(peer, fault)()
        settings.REDIS_URL = f"redis://127.0.0.1:{peer.port}/0"
        response = release(gateway, atlas, attestation=evidence)
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "service_unavailable"
    assert not Event.objects.filter(action="key.released").exists()


def test_a_file_missing_from_the_store_is_a_503_that_says_who_restores_it(gateway, make_grant, atlas, kit, weights):
    make_grant(requires_attestation=True)
    artefacts.artefact_storage().delete(weights.storage_name)
    response = ciphertext(gateway, weights.uid, session=session_token(gateway, atlas, kit))
    assert response.status_code == 503 and response["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "artefact_unavailable" and "restores it from backup" in error["message"]
