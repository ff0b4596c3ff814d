"""NVIDIA Remote Attestation Service (NRAS) evidence: the detached EAT (the overall JWT and one JWT per GPU, ES384).

What NRAS answers, and what this module relies on (NVIDIA/nvtrust's attestation SDK, ``unified_eat_parser`` and
``nras_utils``, and NRAS answers published with their decoded claims):

- The answer to POST /v3/attest/gpu is a JSON array, a detached EAT bundle (RATS EAT, appendix "detached EAT
  bundle"): ``[["JWT", <overall token>], {"GPU-0": <GPU token>, "GPU-1": ...}]``. The SDK reads the overall token
  as ``answer[0][1]`` (its type ``answer[0][0]`` is "JWT") and the GPU tokens as the mapping ``answer[1]``.
- Every token is a JWT signed ES384 by a key NRAS publishes at ``/.well-known/jwks.json`` (the key's ``x5c`` chains
  to NVIDIA's root; here the verifier's JWKS, fetched by the worker, is what is trusted), with ``iss``
  ``https://nras.attestation.nvidia.com``, ``iat``, ``nbf`` and ``exp``.
- The overall token's ``submods`` binds the GPU tokens to it: ``{"GPU-0": ["DIGEST", ["SHA-256", <hex>]]}``, the
  SHA-256 of that GPU token exactly as sent. Published answers name the algorithm "SHA-256"; "SHA256" is accepted
  too, and the digest may be hex or base64url. Without this check a GPU token could be lifted from another, older
  attestation (with its own, still valid signature) and set beside a fresh overall token.
- The nonce is ``eat_nonce`` in the overall token and, the same value, in each GPU token. (NRAS takes the nonce the
  attester asked for as a 64-digit hex string, 32 bytes.)

A check here is of the evidence only: signatures, issuer, times, the digests that bind the GPU tokens, and one
nonce. Whether NVIDIA found the GPUs good is the charter's claims policy's to ask. Claims a policy typically checks:
overall ``x-nvidia-overall-att-result`` (true), and for each GPU ``measres`` ("success", the measurements match
NVIDIA's reference values), ``dbgstat`` ("disabled"), ``secboot`` (true), ``hwmodel`` (e.g. "GH100 A01 GSP BROM"),
``x-nvidia-gpu-driver-version`` and ``x-nvidia-gpu-vbios-version``, ``x-nvidia-gpu-attestation-report-cert-chain-
validated`` and ``x-nvidia-attestation-warning`` (null).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from governance.attestation.evidence import (
    AttestationInvalidError,
    AttestationReplayedError,
    Verified,
    Verifier,
    digest_of,
    signed_claims,
)

ALGORITHM = "ES384"
# The names submods gives SHA-256 (published NRAS answers say "SHA-256"), compared upper-case.
_SHA256_NAMES = ("SHA-256", "SHA256")
_SHAPE = 'send NRAS\'s answer as it came: [["JWT", "<overall token>"], {"GPU-0": "<GPU token>", ...}]'


def nvidia_verified(verifier: Verifier, evidence: Any, now: datetime) -> Verified:
    """Verify NRAS's detached EAT ``evidence`` (the JSON array, or a string holding it) at ``now``: the overall token
    and every GPU token signed ES384 by ``verifier``'s keys, the GPU tokens exactly those the overall token's
    ``submods`` lists, and one nonce throughout. Raises an AttestationError naming the token that failed."""
    canonical, overall_token, gpu_tokens = _bundle(evidence)
    overall = signed_claims(verifier, overall_token, ALGORITHM, now, what="overall token")
    _check_submods(overall, gpu_tokens)
    nonce = _nonce(overall)
    gpus: dict[str, dict[str, Any]] = {}
    for name, token in gpu_tokens.items():
        claims = signed_claims(verifier, token, ALGORITHM, now, what=f"{name} token")
        if "eat_nonce" in claims and claims["eat_nonce"] != nonce:
            raise AttestationInvalidError(
                f"The {name} token's eat_nonce differs from the overall token's: they are not of one attestation."
            )
        gpus[name] = claims
    return Verified(
        verifier=verifier,
        claims=overall,
        nonce=nonce,
        digest=digest_of(canonical),
        measurement=None,
        enclave_key=None,
        gpus=gpus,
    )


def _bundle(evidence: Any) -> tuple[str, str, dict[str, str]]:
    """The evidence as the canonical string its digest is of, the overall token, and the GPU tokens by name."""
    if isinstance(evidence, str):
        canonical = evidence
        try:
            value = json.loads(evidence)
        except ValueError:
            raise AttestationInvalidError(f"The NVIDIA evidence is not JSON: {_SHAPE}.") from None
    elif isinstance(evidence, list):
        value = evidence
        canonical = json.dumps(evidence, separators=(",", ":"), sort_keys=False)
    else:
        raise AttestationInvalidError(f"The NVIDIA evidence must be a JSON array or a string holding one: {_SHAPE}.")
    if not isinstance(value, list) or len(value) != 2:
        raise AttestationInvalidError(f"The NVIDIA evidence must be an array of two entries: {_SHAPE}.")
    head, detached = value
    if not isinstance(head, list) or len(head) != 2 or head[0] != "JWT" or not isinstance(head[1], str):
        raise AttestationInvalidError(
            f'The NVIDIA evidence\'s first entry must be ["JWT", "<overall token>"]: {_SHAPE}.'
        )
    if not isinstance(detached, dict) or not detached:
        raise AttestationInvalidError(f"The NVIDIA evidence carries no GPU tokens: {_SHAPE}.")
    for name, token in detached.items():
        if not isinstance(token, str):
            raise AttestationInvalidError(f"The NVIDIA evidence's {name} token must be a JWT, a string: {_SHAPE}.")
    return canonical, head[1], detached


def _check_submods(overall: Mapping[str, Any], gpu_tokens: Mapping[str, str]) -> None:
    """Every GPU token given is the one the overall token's submods names by its digest, and every one it names is
    given: a token taken from another attestation, or one left out, refuses the whole evidence."""
    submods = overall.get("submods")
    if not isinstance(submods, dict) or not submods:
        raise AttestationInvalidError(
            "The overall token has no submods: it does not say which GPU tokens belong to it."
        )
    missing = sorted(set(submods) - set(gpu_tokens))
    if missing:
        raise AttestationInvalidError(
            f"The overall token lists {', '.join(missing)} in submods, but the evidence does not carry "
            f"{'that token' if len(missing) == 1 else 'those tokens'}: send NRAS's whole answer."
        )
    for name, token in gpu_tokens.items():
        if name not in submods:
            raise AttestationInvalidError(
                f"The {name} token is not listed in the overall token's submods: it is not of this attestation."
            )
        listed = _listed_digest(name, submods[name])
        if listed != hashlib.sha256(token.encode()).digest():
            raise AttestationInvalidError(
                f"The {name} token is not the one the overall token's submods lists (its SHA-256 differs): "
                "a GPU token from another attestation cannot be used."
            )


def _listed_digest(name: str, entry: Any) -> bytes:
    """The SHA-256 that submods gives for ``name``: ``["DIGEST", ["SHA-256", <hex or base64url>]]``."""
    shape = f'The overall token\'s submods entry for {name} must be ["DIGEST", ["SHA-256", "<digest>"]]'
    if not isinstance(entry, list) or len(entry) != 2 or entry[0] != "DIGEST":
        raise AttestationInvalidError(f"{shape}.")
    pair = entry[1]
    if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(part, str) for part in pair):
        raise AttestationInvalidError(f"{shape}.")
    algorithm, value = pair
    if algorithm.upper() not in _SHA256_NAMES:
        raise AttestationInvalidError(f"{shape}; it names {algorithm!r}, and only SHA-256 digests are understood.")
    raw = _digest_bytes(value)
    if raw is None:
        raise AttestationInvalidError(f"{shape}; its digest is neither hex nor base64url of 32 bytes.")
    return raw


def _digest_bytes(value: str) -> bytes | None:
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _nonce(overall: Mapping[str, Any]) -> str:
    value = overall.get("eat_nonce")
    if not isinstance(value, str) or not value:
        raise AttestationReplayedError(
            "The overall token carries no eat_nonce: ask NRAS to attest with the nonce from "
            "POST /api/v1/attestation/nonce."
        )
    return value
