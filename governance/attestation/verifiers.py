"""Attestation verifiers: who may vouch for an enclave, and checking what they signed (issue 25).

The verifiers are listed in the file named by ACCORD_ATTESTATION_VERIFIERS_FILE (YAML or JSON, by extension): a list
of ``{name, kind, issuer, jwks_file | jwks_url, root_cert_file}``. ``verifiers_load`` reads and checks it, raising
ImproperlyConfigured with every problem, each naming the entry and the field.

Four kinds: ``azure`` (Microsoft Azure Attestation, a JWT signed RS256) and ``intel`` (Intel Trust Authority, PS384),
checked here with PyJWT against the verifier's JWKS; ``nvidia`` (NRAS's detached EAT, ES384:
governance.attestation.nvidia) and ``nitro`` (a COSE_Sign1 document chained to root_cert_file:
governance.attestation.nitro). Keys given by ``jwks_file`` are read
at load; keys given by ``jwks_url`` are fetched by a worker (``jwks_fetch_all``, the task
governance.tasks.attestation_keys_fetch) into the cache, and never during a verification: a verifier whose keys
have not been fetched refuses every token.

``evidence_check`` answers Verified (the claims, the nonce, what was measured, the enclave's key) or raises an
AttestationError whose ``code`` is the deny code: attestation_invalid, attestation_expired or attestation_replayed;
``attestation_verify`` also spends the nonce. Whether the claims and the measurement are what a charter asks is the
decision's business (governance.attestation.requirements).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.models import User
from governance.attestation import nitro, nonces, nvidia
from governance.attestation.evidence import (
    EXPIRED,
    INVALID,
    REPLAYED,
    AttestationError,
    AttestationExpiredError,
    AttestationInvalidError,
    AttestationReplayedError,
    Measured,
    Verified,
    Verifier,
    digest_of,
    jwks_cache_key,
    jwks_cached,
    signed_claims,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXPIRED",
    "INVALID",
    "REPLAYED",
    "AttestationError",
    "AttestationExpiredError",
    "AttestationInvalidError",
    "AttestationReplayedError",
    "Measured",
    "Verified",
    "Verifier",
    "attestation_verify",
    "evidence_check",
    "jwks_cached",
    "jwks_fetch",
    "jwks_fetch_all",
    "verifiers",
    "verifiers_load",
]

KINDS = ("azure", "intel", "nvidia", "nitro")
# The one algorithm each JWT kind signs with: a token's own "alg" is never trusted beyond this.
ALGORITHMS = {"azure": "RS256", "intel": "PS384", "nvidia": "ES384"}
FIELDS = ("name", "kind", "issuer", "jwks_file", "jwks_url", "root_cert_file")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")

# The worker's fetch of one jwks_url gives up after this; a verification never waits on it.
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
JWKS_MAX_BYTES = 1024 * 1024
# Fetched keys are kept this long: keys that could not be refreshed for a day are dropped (the verifier then fails
# closed) rather than trusted after their issuer may have rotated them out.
JWKS_CACHE_SECONDS = 24 * 3600


# --- Loading the configuration ------------------------------------------------------------------------------


def verifiers_load(path: Path) -> dict[str, Verifier]:
    """The verifiers listed in ``path``, by name. ImproperlyConfigured names every problem found."""
    where = f"ACCORD_ATTESTATION_VERIFIERS_FILE ({path})"
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ImproperlyConfigured(f"{where}: name a .yaml, .yml or .json file (the extension says how to read it).")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImproperlyConfigured(f"{where} cannot be read: {error.strerror}.") from None
    try:
        document = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ImproperlyConfigured(f"{where} is not valid {suffix[1:].upper()}: {error}") from None
    if not isinstance(document, list):
        raise ImproperlyConfigured(f"{where} must hold a list of verifiers, not {type(document).__name__}.")
    problems: list[str] = []
    found: dict[str, Verifier] = {}
    first_at: dict[str, int] = {}
    for index, entry in enumerate(document):
        verifier = _entry(entry, index, path.parent, problems)
        if verifier is None:
            continue
        if verifier.name in first_at:
            problems.append(
                f"verifiers[{index}] ({verifier.name}): name is already used by verifiers[{first_at[verifier.name]}];"
                " names must be unique"
            )
            continue
        first_at[verifier.name] = index
        found[verifier.name] = verifier
    if problems:
        raise ImproperlyConfigured(f"{where} has {len(problems)} problem(s): " + "; ".join(problems))
    return found


def _entry(entry: Any, index: int, base: Path, problems: list[str]) -> Verifier | None:
    if not isinstance(entry, dict):
        problems.append(f"verifiers[{index}]: each verifier is a mapping of {', '.join(FIELDS)}")
        return None
    name = entry.get("name")
    label = f"verifiers[{index}] ({name})" if isinstance(name, str) and name else f"verifiers[{index}]"
    before = len(problems)
    _check_shape(entry, label, problems)
    if len(problems) > before:
        return None
    _check_fields(entry, label, problems)
    jwks_file, root = entry.get("jwks_file"), entry.get("root_cert_file")
    jwks_path = _resolve(jwks_file, base) if jwks_file else None
    jwks = _read_jwks_file(jwks_path, label, problems) if jwks_path is not None else None
    root_path = _resolve(root, base) if root else None
    if root_path is not None:
        _check_root(root_path, label, problems)
    if len(problems) > before:
        return None
    return Verifier(
        name=entry["name"],
        kind=entry["kind"],
        issuer=entry.get("issuer") or "",
        jwks_file=jwks_path,
        jwks_url=entry.get("jwks_url") or None,
        root_cert_file=root_path,
        jwks=jwks,
    )


def _check_shape(entry: dict[Any, Any], label: str, problems: list[str]) -> None:
    unknown = sorted(str(key) for key in entry if key not in FIELDS)
    if unknown:
        problems.append(f"{label}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}")
    for key in FIELDS:
        if key in entry and entry[key] is not None and not isinstance(entry[key], str):
            problems.append(f"{label}: {key} must be a string")


def _check_fields(entry: dict[str, Any], label: str, problems: list[str]) -> None:
    name, kind, issuer = entry.get("name"), entry.get("kind"), entry.get("issuer")
    jwks_file, jwks_url = entry.get("jwks_file"), entry.get("jwks_url")
    if not name:
        problems.append(f"{label}: give a name (lower-case letters, digits, '.', '_' or '-')")
    elif not _NAME.match(name):
        problems.append(f"{label}: name must be 1-63 of lower-case letters, digits, '.', '_' and '-'")
    if kind not in KINDS:
        problems.append(f"{label}: kind must be one of {', '.join(KINDS)}" + (f", not {kind!r}" if kind else ""))
    elif kind == "nitro":
        # A Nitro document is a COSE_Sign1 whose certificate chain ends at the configured root: no JWKS, no issuer.
        if jwks_file or jwks_url:
            problems.append(f"{label}: a nitro verifier checks its chain to root_cert_file; remove jwks_file/jwks_url")
        if not entry.get("root_cert_file"):
            problems.append(f"{label}: a nitro verifier needs root_cert_file (the AWS Nitro root certificate, PEM)")
    else:
        if not issuer:
            problems.append(f"{label}: give issuer, the exact 'iss' its tokens carry (e.g. https://x.attest.azure.net)")
        if jwks_file and jwks_url:
            problems.append(f"{label}: give jwks_file or jwks_url, not both")
        elif not jwks_file and not jwks_url:
            problems.append(f"{label}: give jwks_file or jwks_url (the verifier's signing keys)")
    if jwks_url:
        _check_url(jwks_url, label, problems)


def _resolve(name: str, base: Path) -> Path:
    """A file named relative to the configuration file is found beside it."""
    path = Path(name)
    return path if path.is_absolute() else base / path


def _check_url(url: str, label: str, problems: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return  # a local relay or a test's server
    problems.append(f"{label}: jwks_url must be an https:// URL (http only on loopback), not {url!r}")


def _read_jwks_file(path: Path, label: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{label}: jwks_file {path} cannot be read: {error.strerror}")
        return None
    except ValueError as error:
        problems.append(f"{label}: jwks_file {path} is not JSON: {error}")
        return None
    problem = jwks_problem(document)
    if problem:
        problems.append(f"{label}: jwks_file {path}: {problem}")
        return None
    return document


def _check_root(path: Path, label: str, problems: list[str]) -> None:
    try:
        x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as error:
        problems.append(f"{label}: root_cert_file {path} cannot be read: {error.strerror}")
    except ValueError:
        problems.append(f"{label}: root_cert_file {path} holds no PEM certificate")


def jwks_problem(document: Any) -> str | None:
    """What makes ``document`` unusable as a JWKS (each key needs a kid, to be chosen by), or None."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        return 'a JWKS is an object {"keys": [...]} with at least one key'
    for index, key in enumerate(document["keys"]):
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str) or not key["kid"]:
            return f"keys[{index}] has no kid (a token names its key by kid)"
        try:
            jwt.PyJWK(key)
        except (jwt.PyJWKError, jwt.InvalidKeyError) as error:
            return f"keys[{index}] ({key['kid']}) cannot be used: {error}"
    return None


_loaded: dict[tuple[str, int], dict[str, Verifier]] = {}


def verifiers() -> dict[str, Verifier]:
    """The configured verifiers ({} when ACCORD_ATTESTATION_VERIFIERS_FILE is unset), read again when the file
    changes. ImproperlyConfigured for a bad file."""
    path = settings.ACCORD_ATTESTATION_VERIFIERS_FILE
    if path is None:
        return {}
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1  # verifiers_load says why it cannot be read
    key = (str(path), stamp)
    if key not in _loaded:
        loaded = verifiers_load(path)
        _loaded.clear()
        _loaded[key] = loaded
    return _loaded[key]


# --- Keys by URL: fetched by a worker, read from the cache --------------------------------------------------


def jwks_fetch(verifier: Verifier, timeout: float | None = None) -> None:
    """Fetch ``verifier``'s jwks_url and keep it in the cache. Raises OSError (unreachable, too slow, an HTTP
    error) or ValueError (not a usable JWKS); the keys already cached are left as they were."""
    if verifier.jwks_url is None:
        raise ValueError(f"verifier {verifier.name} has no jwks_url")
    # The scheme was checked at load: https, or http on loopback.
    request = urllib.request.Request(verifier.jwks_url, headers={"Accept": "application/json"})  # noqa: S310
    limit = JWKS_FETCH_TIMEOUT_SECONDS if timeout is None else timeout
    with urllib.request.urlopen(request, timeout=limit) as answer:  # noqa: S310
        body = answer.read(JWKS_MAX_BYTES + 1)
    if len(body) > JWKS_MAX_BYTES:
        raise ValueError(f"the JWKS is larger than {JWKS_MAX_BYTES} bytes")
    document = json.loads(body)
    problem = jwks_problem(document)
    if problem:
        raise ValueError(problem)
    cache.set(jwks_cache_key(verifier), document, timeout=JWKS_CACHE_SECONDS)


def jwks_fetch_all(timeout: float | None = None) -> dict[str, str]:
    """Fetch the keys of every verifier with a jwks_url: {name: "fetched" or why not}. One failing URL does not
    stop the others, and leaves that verifier's cached keys as they were. Running it twice changes nothing more."""
    outcomes: dict[str, str] = {}
    for verifier in verifiers().values():
        if verifier.jwks_url is None:
            continue
        try:
            jwks_fetch(verifier, timeout)
        except (OSError, ValueError) as error:
            outcomes[verifier.name] = f"failed: {error}"
            logger.warning("Attestation keys of %s not fetched from %s: %s", verifier.name, verifier.jwks_url, error)
        else:
            outcomes[verifier.name] = "fetched"
    return outcomes


# --- Verifying evidence -------------------------------------------------------------------------------------


def evidence_check(*, verifier: str, evidence: Any, now: datetime | None = None) -> Verified:
    """Verify ``evidence`` with the configured verifier named ``verifier``, without spending its nonce: the
    signature (or chain), issuer and times. Raises an AttestationError whose ``code`` is the deny code."""
    now = now or timezone.now()
    found = verifiers().get(verifier) if isinstance(verifier, str) else None
    if found is None:
        names = ", ".join(sorted(verifiers())) or "none is configured"
        raise AttestationInvalidError(f"No verifier is named {verifier!r} (the configured ones: {names}).")
    if found.kind == "nvidia":
        return nvidia.nvidia_verified(found, evidence, now)
    if found.kind == "nitro":
        return nitro.nitro_verified(found, evidence, now)
    claims = signed_claims(found, evidence, ALGORITHMS[found.kind], now)
    return Verified(
        verifier=found,
        claims=claims,
        nonce=_nonce(found, claims),
        digest=digest_of(evidence),
        measurement=_measured(found, claims),
        enclave_key=_enclave_key(found, claims),
    )


def attestation_verify(*, principal: User, verifier: str, evidence: Any, now: datetime | None = None) -> Verified:
    """``evidence_check``, then spend the evidence's nonce for ``principal``: AttestationReplayedError when it is
    unknown, another principal's, expired or used; NonceStoreUnavailableError when Redis does not answer (the caller
    fails closed). The nonce is spent only once everything else holds."""
    now = now or timezone.now()
    verified = evidence_check(verifier=verifier, evidence=evidence, now=now)
    nonce_spend(principal, verified.nonce, now)
    return verified


def nonce_spend(principal: User, nonce: str, now: datetime) -> None:
    """Spend a verified evidence's nonce; AttestationReplayedError when it cannot be."""
    try:
        nonces.nonce_spend(principal, nonce, now)
    except nonces.NonceRefusedError as refused:
        raise AttestationReplayedError(str(refused)) from None


def _nonce(verifier: Verifier, claims: Mapping[str, Any]) -> str:
    """The nonce where the format keeps it.

    azure: Microsoft Azure Attestation copies the runtime data the enclave gave into the claim ``x-ms-runtime``
    (an object); the attestation client's payload is ``x-ms-runtime["client-payload"]``, whose ``nonce`` we read.

    intel: the Intel Trust Authority EAT profile defines ``eat_nonce`` (the EAT claim, RFC 9711) and
    ``verifier_nonce`` ({"val", "iat", "signature"}, each base64). We read ``eat_nonce`` when the token has it, and
    otherwise ``verifier_nonce.val`` decoded from base64 to text.
    """
    if verifier.kind == "azure":
        runtime = claims.get("x-ms-runtime")
        payload = runtime.get("client-payload") if isinstance(runtime, dict) else None
        value = payload.get("nonce") if isinstance(payload, dict) else None
        if not isinstance(value, str) or not value:
            raise AttestationReplayedError(
                "The token carries no nonce: put it in the runtime data's client payload "
                '(x-ms-runtime: {"client-payload": {"nonce": ...}}).'
            )
        return value
    eat_nonce = claims.get("eat_nonce")
    if isinstance(eat_nonce, str) and eat_nonce:
        return eat_nonce
    verifier_nonce = claims.get("verifier_nonce")
    encoded = verifier_nonce.get("val") if isinstance(verifier_nonce, dict) else None
    if not isinstance(encoded, str) or not encoded:
        raise AttestationReplayedError("The token carries no nonce: neither eat_nonce nor verifier_nonce.val is set.")
    try:
        return base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise AttestationInvalidError("The token's verifier_nonce.val is not base64 of a nonce.") from None


# Where each kind's JWT keeps what was measured: Azure's SEV-SNP claim at the top (sevsnpvm tokens) or under
# x-ms-isolation-tee (Azure confidential VM tokens); TDX's MRTD and RTMRs at the top or under "tdx" (Intel Trust
# Authority's composite tokens).
_SNP_CLAIM = "x-ms-sevsnpvm-launchmeasurement"
_TDX_CLAIMS = {
    "mrtd": "tdx_mrtd",
    "rtmr0": "tdx_rtmr0",
    "rtmr1": "tdx_rtmr1",
    "rtmr2": "tdx_rtmr2",
    "rtmr3": "tdx_rtmr3",
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _measured(verifier: Verifier, claims: Mapping[str, Any]) -> Measured | None:
    for scope in (claims, claims.get("x-ms-isolation-tee"), claims.get("tdx")):
        if not isinstance(scope, Mapping):
            continue
        snp = scope.get(_SNP_CLAIM)
        if isinstance(snp, str) and _HEX.match(snp):
            return Measured("snp", {"launch_measurement": snp.lower()})
        tdx = {name: scope[claim] for name, claim in _TDX_CLAIMS.items() if isinstance(scope.get(claim), str)}
        if "mrtd" in tdx and all(_HEX.match(value) for value in tdx.values()):
            return Measured("tdx", {name: value.lower() for name, value in tdx.items()})
    return None


def _enclave_key(verifier: Verifier, claims: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The enclave's public key, when the runtime data it gave carries one as a JWK: Azure's ``x-ms-runtime.keys``,
    Intel's ``attester_runtime_data.keys`` (the first key either way)."""
    holder = claims.get("x-ms-runtime" if verifier.kind == "azure" else "attester_runtime_data")
    keys = holder.get("keys") if isinstance(holder, Mapping) else None
    if isinstance(keys, list) and keys and isinstance(keys[0], Mapping) and isinstance(keys[0].get("kty"), str):
        return dict(keys[0])
    return None
