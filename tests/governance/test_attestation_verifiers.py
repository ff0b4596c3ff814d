"""Attestation verifiers: the configuration file, and Azure and Intel tokens verified against keys, JWKS files and
a JWKS served on loopback, all made by the attestation kit (tests/attestation_kit.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured

from governance.attestation import verifiers
from governance.attestation.nonces import nonce_issue
from governance.attestation.verifiers import (
    AttestationError,
    attestation_verify,
    verifiers_load,
)
from governance.tasks import attestation_keys_fetch
from tests.attestation_kit import (
    AZURE_ISSUER,
    AZURE_KEY,
    INTEL_ISSUER,
    INTEL_KEY,
    OTHER_KEY,
    JwksServer,
    azure_token,
    configure,
    file_cache,
    intel_token,
    jwk,
    jwks,
    nitro_test_chain,
)
from tests.faults import loopback_peer


@pytest.fixture(autouse=True)
def keys_cache(settings, tmp_path):
    """Fetched keys in a file cache of this test's own, so no test sees another's."""
    file_cache(settings, tmp_path / "cache")


def refused(principal, verifier: str, evidence: str) -> AttestationError:
    with pytest.raises(AttestationError) as raised:
        attestation_verify(principal=principal, verifier=verifier, evidence=evidence)
    return raised.value


# --- Good tokens --------------------------------------------------------------------------------------------


def test_a_good_azure_token_verifies_and_spends_its_nonce(db, attestation_kit, a_principal):
    nonce = nonce_issue(a_principal).value
    token = azure_token(nonce)
    verified = attestation_verify(principal=a_principal, verifier="azure-prod", evidence=token)
    assert verified.verifier.name == "azure-prod"
    assert verified.nonce == nonce
    assert verified.claims["x-ms-attestation-type"] == "sevsnpvm"
    assert verified.digest == hashlib.sha256(token.encode()).hexdigest()
    again = refused(a_principal, "azure-prod", token)
    assert again.code == "attestation_replayed" and "already used" in str(again)


def test_a_good_intel_token_verifies_with_its_verifier_nonce(db, attestation_kit, a_principal):
    nonce = nonce_issue(a_principal).value
    verified = attestation_verify(principal=a_principal, verifier="intel-prod", evidence=intel_token(nonce))
    assert verified.verifier.kind == "intel" and verified.nonce == nonce


def test_an_intel_token_may_carry_the_nonce_as_eat_nonce(db, attestation_kit, a_principal):
    nonce = nonce_issue(a_principal).value
    token = intel_token("ignored", verifier_nonce=None, eat_nonce=nonce)
    assert attestation_verify(principal=a_principal, verifier="intel-prod", evidence=token).nonce == nonce


# --- Refusals -----------------------------------------------------------------------------------------------


def test_a_forged_signature_is_invalid_and_leaves_the_nonce_unspent(db, attestation_kit, a_principal):
    nonce = nonce_issue(a_principal).value
    error = refused(a_principal, "azure-prod", azure_token(nonce, key=OTHER_KEY))
    assert error.code == "attestation_invalid"
    assert "signature does not verify with key azure-1 of verifier azure-prod" in str(error)
    attestation_verify(principal=a_principal, verifier="azure-prod", evidence=azure_token(nonce))


def test_a_token_from_another_issuer_is_invalid(db, attestation_kit, a_principal):
    token = azure_token(nonce_issue(a_principal).value, iss="https://evil.attest.azure.net")
    error = refused(a_principal, "azure-prod", token)
    assert error.code == "attestation_invalid"
    assert "'https://evil.attest.azure.net'" in str(error) and AZURE_ISSUER in str(error)


def test_a_token_naming_an_unknown_key_is_invalid(db, attestation_kit, a_principal):
    error = refused(a_principal, "azure-prod", azure_token(nonce_issue(a_principal).value, kid="azure-9"))
    assert error.code == "attestation_invalid" and "'azure-9'" in str(error) and "unknown kid" in str(error)


def test_an_unsigned_token_alg_none_is_invalid(db, attestation_kit, a_principal):
    now = int(time.time())
    body = {"iss": AZURE_ISSUER, "iat": now, "exp": now + 600, "x-ms-runtime": {"client-payload": {"nonce": "n"}}}
    token = jwt.encode(body, None, algorithm="none", headers={"kid": "azure-1"})
    error = refused(a_principal, "azure-prod", token)
    assert error.code == "attestation_invalid" and "'none'" in str(error) and "only RS256" in str(error)


def test_hs256_signed_with_the_public_key_is_invalid(db, attestation_kit, a_principal):
    """The algorithm confusion: an HMAC whose secret is the verifier's public key, which anyone has. PyJWT will not
    sign one, so it is made by hand."""
    secret = AZURE_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    body = {"iss": AZURE_ISSUER, "iat": now, "exp": now + 600, "x-ms-runtime": {"client-payload": {"nonce": "n"}}}
    signed = b".".join(_b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "kid": "azure-1"}, body))
    token = (signed + b"." + _b64(hmac.new(secret, signed, hashlib.sha256).digest())).decode()
    error = refused(a_principal, "azure-prod", token)
    assert error.code == "attestation_invalid" and "'HS256'" in str(error) and "only RS256" in str(error)


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def test_an_azure_algorithm_is_refused_for_an_intel_verifier(db, attestation_kit, a_principal):
    token = jwt.encode({"iss": INTEL_ISSUER}, INTEL_KEY, algorithm="RS256", headers={"kid": "intel-1"})
    error = refused(a_principal, "intel-prod", token)
    assert error.code == "attestation_invalid" and "accepts only PS384" in str(error)


def test_garbage_is_invalid(db, attestation_kit, a_principal):
    error = refused(a_principal, "azure-prod", "not-a-token")
    assert error.code == "attestation_invalid" and "not a well-formed JWT" in str(error)


def test_an_expired_token_is_expired(db, attestation_kit, a_principal, settings):
    settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 60
    now = int(time.time())
    token = azure_token(nonce_issue(a_principal).value, iat=now - 900, nbf=now - 900, exp=now - 120)
    error = refused(a_principal, "azure-prod", token)
    assert error.code == "attestation_expired" and "expired" in str(error) and "60 s" in str(error)


def test_a_token_expired_within_the_clock_skew_still_verifies(db, attestation_kit, a_principal, settings):
    settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = 60
    now = int(time.time())
    token = azure_token(nonce_issue(a_principal).value, iat=now - 900, exp=now - 30)
    assert attestation_verify(principal=a_principal, verifier="azure-prod", evidence=token)


def test_a_token_not_valid_yet_is_expired(db, attestation_kit, a_principal):
    now = int(time.time())
    token = intel_token(nonce_issue(a_principal).value, nbf=now + 600, exp=now + 1200)
    error = refused(a_principal, "intel-prod", token)
    assert error.code == "attestation_expired" and "not valid yet" in str(error) and "nbf" in str(error)


def test_a_token_issued_in_the_future_is_expired(db, attestation_kit, a_principal):
    now = int(time.time())
    token = azure_token(nonce_issue(a_principal).value, iat=now + 600, nbf=now, exp=now + 1200)
    error = refused(a_principal, "azure-prod", token)
    assert error.code == "attestation_expired" and "iat" in str(error)


def test_an_unknown_nonce_is_replayed(db, attestation_kit, a_principal):
    error = refused(a_principal, "azure-prod", azure_token("never-issued"))
    assert error.code == "attestation_replayed" and "unknown" in str(error)


def test_another_principals_nonce_is_replayed(db, attestation_kit, a_principal, b_principal):
    error = refused(b_principal, "intel-prod", intel_token(nonce_issue(a_principal).value))
    assert error.code == "attestation_replayed" and "unknown" in str(error)


def test_a_token_without_a_nonce_is_refused(db, attestation_kit, a_principal):
    error = refused(a_principal, "azure-prod", azure_token("n", **{"x-ms-runtime": {}}))
    assert error.code == "attestation_replayed" and "client-payload" in str(error)


def test_an_unknown_verifier_is_invalid(db, attestation_kit, a_principal):
    error = refused(a_principal, "azure-test", azure_token(nonce_issue(a_principal).value))
    assert error.code == "attestation_invalid" and "'azure-test'" in str(error)


# --- The configuration file ---------------------------------------------------------------------------------


def load_error(tmp_path: Path, entries: Any, suffix: str = ".yaml") -> str:
    path = tmp_path / f"verifiers{suffix}"
    path.write_text(json.dumps(entries) if suffix == ".json" else yaml.safe_dump(entries))
    with pytest.raises(ImproperlyConfigured) as raised:
        verifiers_load(path)
    return str(raised.value)


def test_a_json_file_loads_every_kind(tmp_path):
    (tmp_path / "keys.json").write_text(json.dumps(jwks(jwk(AZURE_KEY, "k"))))
    (tmp_path / "root.pem").write_bytes(nitro_test_chain().root.pem)
    path = tmp_path / "verifiers.json"
    path.write_text(
        json.dumps(
            [
                {"name": "a", "kind": "azure", "issuer": AZURE_ISSUER, "jwks_url": "https://x.attest.azure.net/certs"},
                {"name": "i", "kind": "intel", "issuer": INTEL_ISSUER, "jwks_file": str(tmp_path / "keys.json")},
                {"name": "n", "kind": "nvidia", "issuer": "https://nras", "jwks_url": "https://nras/jwks"},
                {"name": "aws", "kind": "nitro", "root_cert_file": "root.pem"},
            ]
        )
    )
    loaded = verifiers_load(path)
    assert sorted(loaded) == ["a", "aws", "i", "n"]
    assert loaded["i"].jwks == jwks(jwk(AZURE_KEY, "k"))
    assert loaded["aws"].root_cert_file == tmp_path / "root.pem"


def test_both_jwks_file_and_url_is_refused_naming_the_entry(tmp_path):
    (tmp_path / "keys.json").write_text(json.dumps(jwks(jwk(INTEL_KEY, "k"))))
    message = load_error(
        tmp_path,
        [
            {"name": "azure-prod", "kind": "azure", "issuer": AZURE_ISSUER, "jwks_url": "https://a/certs"},
            {
                "name": "intel-prod",
                "kind": "intel",
                "issuer": INTEL_ISSUER,
                "jwks_file": "keys.json",
                "jwks_url": "https://b/certs",
            },
        ],
    )
    assert "verifiers[1] (intel-prod): give jwks_file or jwks_url, not both" in message


def test_neither_jwks_is_refused(tmp_path):
    message = load_error(tmp_path, [{"name": "azure-prod", "kind": "azure", "issuer": AZURE_ISSUER}])
    assert "verifiers[0] (azure-prod): give jwks_file or jwks_url" in message


def test_duplicate_names_are_refused(tmp_path):
    entry = {"name": "azure-prod", "kind": "azure", "issuer": AZURE_ISSUER, "jwks_url": "https://a/certs"}
    message = load_error(tmp_path, [entry, entry])
    assert "verifiers[1] (azure-prod): name is already used by verifiers[0]" in message


def test_every_problem_is_named_at_once(tmp_path):
    message = load_error(
        tmp_path,
        [
            {"name": "x", "kind": "tpm", "issuer": "i", "jwks_url": "https://a"},
            {"name": "y", "kind": "azure", "jwks_url": "ftp://a/certs", "colour": "red"},
            {"name": "z", "kind": "nitro"},
            {"name": "w", "kind": "intel", "issuer": "i", "jwks_file": "missing.json"},
            "azure",
        ],
    )
    assert "verifiers[0] (x): kind must be one of azure, intel, nvidia, nitro, not 'tpm'" in message
    assert "verifiers[1] (y): unknown field(s) colour" in message
    assert "verifiers[2] (z): a nitro verifier needs root_cert_file" in message
    assert "verifiers[3] (w): jwks_file" in message and "cannot be read" in message
    assert "verifiers[4]: each verifier is a mapping" in message


def test_an_entry_without_issuer_or_with_a_plain_http_url_is_refused(tmp_path):
    message = load_error(tmp_path, [{"name": "y", "kind": "azure", "jwks_url": "http://example.org/certs"}])
    assert "verifiers[0] (y): give issuer" in message
    assert "verifiers[0] (y): jwks_url must be an https:// URL" in message


def test_a_jwks_file_whose_key_has_no_kid_is_refused(tmp_path):
    key = jwk(INTEL_KEY, "k")
    del key["kid"]
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [key]}))
    message = load_error(tmp_path, [{"name": "i", "kind": "intel", "issuer": "i", "jwks_file": "keys.json"}], ".json")
    assert "verifiers[0] (i): jwks_file" in message and "keys[0] has no kid" in message


def test_a_file_that_is_not_a_list_or_not_yaml_is_refused(tmp_path):
    assert "must hold a list of verifiers" in load_error(tmp_path, {"name": "a"})
    path = tmp_path / "verifiers.yml"
    path.write_text("- name: [unclosed")
    with pytest.raises(ImproperlyConfigured, match="is not valid YML"):
        verifiers_load(path)
    with pytest.raises(ImproperlyConfigured, match=r"\.yaml, \.yml or \.json"):
        verifiers_load(tmp_path / "verifiers.toml")


def test_the_setting_names_a_bad_file_and_verifying_says_so(db, settings, tmp_path, a_principal):
    configure(settings, tmp_path, [{"name": "a", "kind": "azure"}])
    with pytest.raises(ImproperlyConfigured, match=r"verifiers\[0\] \(a\): give issuer"):
        attestation_verify(principal=a_principal, verifier="a", evidence="x")


# --- Keys by URL --------------------------------------------------------------------------------------------


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()


def by_url(settings, tmp_path, url: str) -> None:
    configure(settings, tmp_path, [{"name": "azure-url", "kind": "azure", "issuer": AZURE_ISSUER, "jwks_url": url}])


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def any_cache(request, settings):
    """The keys fetched are kept in the install's cache: a file cache in the embedded mode, Redis otherwise."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": settings.REDIS_URL,
                "KEY_PREFIX": f"{settings.ACCORD_REDIS_PREFIX}test-{time.monotonic_ns()}",
            }
        }
    return request.param


def test_keys_by_url_fail_closed_until_fetched_then_verify(db, settings, tmp_path, a_principal, jwks_server, any_cache):
    by_url(settings, tmp_path, jwks_server.url)
    nonce = nonce_issue(a_principal).value
    error = refused(a_principal, "azure-url", azure_token(nonce))
    assert error.code == "attestation_invalid" and "have not been fetched yet" in str(error)
    assert attestation_keys_fetch() == {"azure-url": "fetched"}
    assert attestation_verify(principal=a_principal, verifier="azure-url", evidence=azure_token(nonce)).nonce == nonce


def test_a_jwks_url_that_never_answers_fails_within_the_timeout_and_verification_stays_closed(
    db, settings, tmp_path, a_principal, monkeypatch
):
    monkeypatch.setattr(verifiers, "JWKS_FETCH_TIMEOUT_SECONDS", 1.0)
    with loopback_peer() as peer:
        peer.silent()
        by_url(settings, tmp_path, f"http://127.0.0.1:{peer.port}/certs")
        started = time.monotonic()
        outcome = attestation_keys_fetch()
        assert time.monotonic() - started < 5
    assert outcome["azure-url"].startswith("failed:") and "timed out" in outcome["azure-url"]
    error = refused(a_principal, "azure-url", azure_token(nonce_issue(a_principal).value))
    assert error.code == "attestation_invalid" and "have not been fetched yet" in str(error)


def test_a_fetch_that_fails_keeps_the_keys_fetched_before(db, settings, tmp_path, a_principal, jwks_server):
    by_url(settings, tmp_path, jwks_server.url)
    assert attestation_keys_fetch() == {"azure-url": "fetched"}
    jwks_server.status = 503
    outcome = attestation_keys_fetch()
    assert outcome["azure-url"].startswith("failed:") and "503" in outcome["azure-url"]
    nonce = nonce_issue(a_principal).value
    assert attestation_verify(principal=a_principal, verifier="azure-url", evidence=azure_token(nonce)).nonce == nonce
