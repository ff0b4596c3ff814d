"""Key release: an asset version's data key, wrapped to the public key of an attested enclave, and the ciphertext
it decrypts.

What a key management service's secure key release does (Azure Key Vault's release policy, AWS KMS with Nitro
conditions), decided by the collaboration instead: the release is a decision like any other — the grant, its
charter's terms and acceptance, its quota, the enclave's attestation — and is refused whenever the decision is.
The key leaves Accord only as a JWE to the key the CPU TEE's evidence carried (RSA-OAEP-256 to an RSA key,
ECDH-ES+A256KW to a P-256/384/521 one; content A256GCM), so only the enclave that attested can unwrap it. GPU
evidence carries no key and releases nothing. The trail records the release with the decision, the evidence and
the enclave key's thumbprint; never the key.

The files the key decrypts are streamed as stored, still encrypted (docs/enclave-guide.md gives the format), to a
principal whose grant allows the action: the ciphertext is worthless without a released key, but who read it is
still on the trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from accounts.models import User
from accounts.services import actor_for
from audit.trail import record
from governance.decisions import services as decisions
from governance.decisions.sessions import session_fact
from governance.models import Artefact, DataKey
from governance.vault.artefacts import (
    CorruptArtefactError,
    KeyDestroyedError,
    artefact_storage,
    data_key_unwrapped,
)

ENC = "A256GCM"
RSA_ALG = "RSA-OAEP-256"
EC_ALG = "ECDH-ES+A256KW"
EC_CURVES = ("P-256", "P-384", "P-521")
MIN_RSA_BITS = 2048
READ_BLOCK = 1024 * 1024

ENCLAVE_KEY_PLACES = (
    "Azure Attestation: the runtime data's keys (x-ms-runtime.keys); Intel Trust Authority: attester_runtime_data."
    "keys; AWS Nitro: the attestation document's public_key"
)


@dataclass(frozen=True)
class Wrapped:
    alg: str
    thumbprint: str
    jwe: str


@dataclass(frozen=True)
class Released:
    decision_id: str
    key_id: str
    key_check: str
    asset: str
    wrapped: Wrapped
    artefacts: list[Artefact] = field(default_factory=list)


@dataclass(frozen=True)
class Refused:
    """Why nothing was released: a deny code (the decision's, or release's own) and what to do; ``status`` is the
    HTTP status that says it (403 refused, 404 nothing stored, 409 the key is going or gone)."""

    code: str
    message: str
    status: int = 403
    decision_id: str = ""


class EnclaveKeyError(ValueError):
    """The enclave key the evidence carried cannot be wrapped to."""


def _public(enclave_key: dict[str, Any]) -> RSAKey | ECKey:
    """The enclave's key as a public key: its private members, should evidence ever carry them, are dropped."""
    kty = enclave_key.get("kty")
    if kty not in ("RSA", "EC"):
        message = f"The enclave's key is of type {kty!r}; key release wraps to RSA or EC (P-256/384/521) keys."
        raise EnclaveKeyError(message)
    if kty == "EC" and enclave_key.get("crv") not in EC_CURVES:
        curves = ", ".join(EC_CURVES)
        raise EnclaveKeyError(f"The enclave's EC key is on {enclave_key.get('crv')!r}; keys go to {curves}.")
    members = ("kty", "n", "e") if kty == "RSA" else ("kty", "crv", "x", "y")
    try:
        public = {name: enclave_key[name] for name in members}
        key: RSAKey | ECKey = RSAKey.import_key(public) if kty == "RSA" else ECKey.import_key(public)
    except (KeyError, ValueError, TypeError, JoseError):
        raise EnclaveKeyError(f"The enclave key the evidence carried is not a valid {kty} public JWK.") from None
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        bits = key.raw_value.key_size
        raise EnclaveKeyError(f"The enclave's RSA key has {bits} bits; key release needs {MIN_RSA_BITS} or more.")
    return key


def wrap_to(enclave_key: dict[str, Any], secret: bytes) -> Wrapped:
    """``secret`` as a compact JWE that only the holder of the enclave key's private half can open."""
    public = _public(enclave_key)
    alg = RSA_ALG if isinstance(public, RSAKey) else EC_ALG
    thumbprint = public.thumbprint()
    token = jwe.encrypt_compact({"alg": alg, "enc": ENC, "kid": thumbprint}, secret, public, algorithms=[alg, ENC])
    return Wrapped(alg=alg, thumbprint=thumbprint, jwe=token)


def _attestation_summary(decision: decisions.Decision, request: decisions.DecisionRequest) -> dict[str, Any]:
    """What the trail keeps of the enclave's attestation: the evidence's verifier, digest and measurement, from the
    fresh evidence or from the attested session."""
    details = dict(decision.attestation or {})
    if "session" in details:
        session = session_fact(request.context.get("session"))
        if session is not None:
            details.update(verifier=session.verifier, evidence=session.evidence_digest, measurement=session.measurement)
    return details


def _refused_after_allow(principal: User, decision: decisions.Decision, refused: Refused) -> Refused:
    """A release refused although the decision allowed the action: the trail says so beside the allow."""
    with transaction.atomic():
        record(
            action="key.release_refused",
            actor=actor_for(principal),
            partner=principal.partner_slug,
            outcome="denied",
            reason=refused.message,
            details={"decision_id": decision.decision_id, "code": refused.code},
        )
    return Refused(refused.code, refused.message, refused.status, decision.decision_id)


def key_release(principal: User, request: decisions.DecisionRequest) -> Released | Refused:
    """Decide the request (its context carries the attestation or an attested session) and, when it allows,
    release the asset version's data key wrapped to the enclave's public key."""
    decision = decisions.decide(principal, request)
    if not decision.allow:
        reason = decision.reasons[0]
        return Refused(reason["code"], reason["message"], decision_id=decision.decision_id)
    if decision.attestation is None:
        return _refused_after_allow(
            principal,
            decision,
            Refused(
                "attestation_required",
                f"The grant allows {request.action} without an attested enclave, so there is no enclave key to wrap "
                "the data key to: keys are released only to enclaves the charter asks to attest.",
            ),
        )
    if decision.enclave_key is None:
        return _refused_after_allow(
            principal,
            decision,
            Refused(
                "enclave_key_missing",
                f"The attestation carried no public key of the enclave, so the data key cannot be wrapped to it. Put "
                f"the enclave's key in its evidence ({ENCLAVE_KEY_PLACES}) and attest again. GPU evidence carries no "
                "key.",
            ),
        )
    data_key = DataKey.objects.filter(
        scope=DataKey.Scope.ASSET_VERSION, asset_version__fingerprint=request.asset
    ).first()
    if data_key is None:
        return _refused_after_allow(
            principal,
            decision,
            Refused(
                "nothing_to_release",
                "No file of this asset version is in the encrypted store, so there is no key to release: ask the host "
                "to store its files.",
                status=404,
            ),
        )
    if data_key.status != DataKey.Status.ACTIVE:
        message = (
            f"The asset version's data key is {data_key.get_status_display().lower()}: it is no longer released. "
            "Ask the host."
        )
        return _refused_after_allow(principal, decision, Refused("key_unavailable", message, status=409))
    try:
        wrapped = wrap_to(decision.enclave_key, data_key_unwrapped(data_key))
    except EnclaveKeyError as error:
        return _refused_after_allow(principal, decision, Refused("enclave_key_invalid", str(error)))
    except (KeyDestroyedError, CorruptArtefactError) as error:
        return _refused_after_allow(principal, decision, Refused("key_unavailable", str(error), status=409))
    with transaction.atomic():
        record(
            action="key.released",
            actor=actor_for(principal),
            partner=principal.partner_slug,
            target=data_key,
            details={
                "decision_id": decision.decision_id,
                "grant": decision.grant_id,
                "asset": request.asset,
                "action": request.action,
                "purpose": request.purpose,
                "key_id": data_key.key_id,
                "alg": wrapped.alg,
                "enc": ENC,
                "enclave_key": wrapped.thumbprint,
                "attestation": _attestation_summary(decision, request),
            },
        )
    artefacts = list(Artefact.objects.filter(data_key=data_key, kind=Artefact.Kind.ASSET_FILE).order_by("pk"))
    return Released(
        decision_id=decision.decision_id,
        key_id=data_key.key_id,
        key_check=data_key.key_check,
        asset=request.asset,
        wrapped=wrapped,
        artefacts=artefacts,
    )


# --- Ciphertext --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ciphertext:
    artefact: Artefact
    key_id: str
    size: int
    chunks: Iterator[bytes]


def ciphertext_open(principal: User, uid: str, *, action: str, purpose: str, session: str = "") -> Ciphertext | Refused:
    """The stored ciphertext of one of an asset version's files, when a decision for ``action`` on that version
    allows. An unknown file is refused as a file the principal has no grant for, so names cannot be probed."""
    artefact = (
        Artefact.objects.select_related("asset_version", "data_key")
        .filter(uid=uid, kind=Artefact.Kind.ASSET_FILE)
        .first()
    )
    asset = artefact.asset_version.fingerprint if artefact is not None and artefact.asset_version else ""
    context = {"session": session} if session else {}
    request = decisions.DecisionRequest(
        action=action, asset=asset or f"artefact:{uid}"[:128], purpose=purpose, context=context
    )
    decision = decisions.decide(principal, request)
    if not decision.allow or artefact is None:  # an unknown file's made-up asset has no grant: always a deny
        reason = decision.reasons[0]
        return Refused(reason["code"], reason["message"], decision_id=decision.decision_id)
    storage = artefact_storage()
    name = artefact.storage_name

    def chunks() -> Iterator[bytes]:
        # Opened when the response starts streaming, closed when it ends (or the client goes away).
        with storage.open(name, "rb") as stream:
            yield from iter(lambda: stream.read(READ_BLOCK), b"")

    try:
        size = storage.size(name)
    except OSError:
        message = "The file is missing from the encrypted store: tell the host, whose operator restores it from backup."
        return Refused("artefact_unavailable", message, status=503, decision_id=decision.decision_id)
    return Ciphertext(artefact=artefact, key_id=artefact.data_key.key_id, size=size, chunks=chunks())
