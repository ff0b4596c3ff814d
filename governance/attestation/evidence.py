"""What every attestation verifier shares: the verifier's configuration, what verified evidence yields, the errors
whose codes are the decision's deny codes, and checking a signed JWT against a verifier's keys.

The kinds' own modules (governance.attestation.verifiers for Azure and Intel, .nvidia, .nitro) build on these;
nothing here knows a kind's claims.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache

INVALID = "attestation_invalid"
EXPIRED = "attestation_expired"
REPLAYED = "attestation_replayed"

# The key type each JWT algorithm needs.
KEY_TYPES = {"RS256": "RSA", "PS384": "RSA", "ES384": "EC"}


@dataclass(frozen=True)
class Verifier:
    name: str
    kind: str
    issuer: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    root_cert_file: Path | None = None
    # The keys of jwks_file, read at load (a JWKS object); None for a jwks_url, whose keys are in the cache.
    jwks: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Measured:
    """What the evidence says was measured: the platform (snp, tdx or nitro, as allow-list entries name them) and
    lower-case hex values by name (launch_measurement; mrtd, rtmr0-rtmr3; pcr0-pcr2)."""

    platform: str
    values: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"platform": self.platform, **self.values}


def measurement_digest(platform: str, values: Mapping[str, str]) -> str:
    """The SHA-256 (hex) that names one measured environment: of its platform and values, as canonical JSON (keys
    sorted, hex lower-case), so an allow-list holds each environment once however its values were typed."""
    canonical = {"platform": platform, **{name: value.lower() for name, value in values.items()}}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Verified:
    """Verified evidence: the verifier that vouched, the claims a claims policy reads, the nonce it carried (spent
    by attestation_verify, not by the check), the SHA-256 (hex) of the evidence as given, what it measured, the
    enclave's public key (a JWK) when it carries one, and for NVIDIA each GPU's claims by its name."""

    verifier: Verifier
    claims: Mapping[str, Any]
    nonce: str
    digest: str
    measurement: Measured | None = None
    enclave_key: Mapping[str, Any] | None = None
    gpus: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class AttestationError(Exception):
    """Evidence refused; ``code`` is the decision's deny code and the message says what failed."""

    code = INVALID


class AttestationInvalidError(AttestationError):
    code = INVALID


class AttestationExpiredError(AttestationError):
    code = EXPIRED


class AttestationReplayedError(AttestationError):
    code = REPLAYED


def digest_of(evidence: str | bytes) -> str:
    return hashlib.sha256(evidence.encode() if isinstance(evidence, str) else evidence).hexdigest()


# --- Keys ---------------------------------------------------------------------------------------------------


def jwks_cache_key(verifier: Verifier) -> str:
    # The URL is part of the key: keys fetched from a verifier's old URL are never used for its new one.
    url = hashlib.sha256(f"{verifier.name}\n{verifier.jwks_url}".encode()).hexdigest()
    return f"attestation:jwks:{url}"


def jwks_cached(verifier: Verifier) -> Mapping[str, Any] | None:
    """The verifier's keys: from its jwks_file, or as the worker last fetched them; None if not fetched yet."""
    if verifier.jwks is not None:
        return verifier.jwks
    if verifier.jwks_url is None:
        return None
    stored = cache.get(jwks_cache_key(verifier))
    return stored if isinstance(stored, dict) else None


def _key(keys: Mapping[str, Any], kid: str, algorithm: str, who: str) -> jwt.PyJWK:
    wanted = KEY_TYPES[algorithm]
    for entry in keys.get("keys", []):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            if entry.get("kty") != wanted:
                raise AttestationInvalidError(f"Key {kid} of {who} is not an {wanted} key; {algorithm} needs one.")
            if entry.get("alg") not in (None, algorithm):
                raise AttestationInvalidError(f"Key {kid} of {who} is for {entry['alg']}, not {algorithm}.")
            try:
                return jwt.PyJWK(entry, algorithm=algorithm)
            except (jwt.PyJWKError, jwt.InvalidKeyError) as error:
                raise AttestationInvalidError(f"Key {kid} of {who} cannot be used for {algorithm}: {error}") from None
    raise AttestationInvalidError(f"The token names key {kid!r}, which {who} does not have (unknown kid).")


# --- Signed JWTs --------------------------------------------------------------------------------------------


def signed_claims(
    verifier: Verifier, token: str, algorithm: str, now: datetime, *, what: str = "token"
) -> dict[str, Any]:
    """The claims of ``token`` once its signature (with ``algorithm`` only, whatever its header says), issuer and
    times hold; an AttestationError naming what failed otherwise. ``what`` names the token in messages."""
    who = f"verifier {verifier.name}"
    if not isinstance(token, str):
        raise AttestationInvalidError(f"The {what} must be a JWT, a string.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as error:
        raise AttestationInvalidError(f"The {what} is not a well-formed JWT ({error}).") from None
    alg = header.get("alg")
    if alg != algorithm:
        raise AttestationInvalidError(
            f"The {what} is signed with {alg!r}; {who} ({verifier.kind}) accepts only {algorithm}."
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AttestationInvalidError(f"The {what}'s header names no key (kid): its signature cannot be checked.")
    keys = jwks_cached(verifier)
    if keys is None:
        raise AttestationInvalidError(
            f"The signing keys of {who} have not been fetched yet from {verifier.jwks_url}: "
            "the worker's attestation keys fetch must succeed first."
        )
    key = _key(keys, kid, algorithm, who)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            # Issuer and times are checked below, against `now`, with messages of our own.
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        raise AttestationInvalidError(f"The {what}'s signature does not verify with key {kid} of {who}.") from None
    except jwt.InvalidTokenError as error:
        raise AttestationInvalidError(f"The {what} cannot be read ({error}).") from None
    if claims.get("iss") != verifier.issuer:
        raise AttestationInvalidError(
            f"The {what} is issued by {claims.get('iss')!r}; {who} accepts only {verifier.issuer!r}."
        )
    check_times(claims, now, what=what)
    return claims


def check_times(claims: Mapping[str, Any], now: datetime, *, what: str = "token") -> None:
    """``exp`` (required), ``nbf`` and ``iat`` (required) against ``now``, with ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS
    either way."""
    skew = settings.ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS
    at = now.timestamp()
    times: dict[str, float] = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            if name == "nbf":
                continue
            raise AttestationInvalidError(f"The {what} has no {name} claim: its freshness cannot be checked.")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AttestationInvalidError(f"The {what}'s {name} claim is not a number of seconds ({value!r}).")
        times[name] = float(value)
    if at > times["exp"] + skew:
        raise AttestationExpiredError(
            f"The {what} expired {int(at - times['exp'])} s ago (exp; the clock skew allowed is {skew} s)."
        )
    for name in ("nbf", "iat"):
        if name in times and times[name] > at + skew:
            raise AttestationExpiredError(
                f"The {what} is not valid yet: its {name} is {int(times[name] - at)} s ahead "
                f"(the clock skew allowed is {skew} s)."
            )
