"""Destruction by crypto-shredding, on a schedule that can be cancelled, like a KMS key deletion.

Scheduling a data key's destruction starts a grace period (``ACCORD_DESTRUCTION_GRACE_HOURS``) during which an
officer can cancel it and nothing is lost. When the grace period has ended, the scheduled run (every minute)
erases the wrapped key, verifies that what it encrypted can no longer be decrypted, and issues a certificate of
destruction. The three happen in one transaction behind a compare-and-swap on the key's status: a run killed
midway leaves the key scheduled, and the next run destroys it once, with one certificate.

The certificate follows the sample certificate of sanitization in NIST SP 800-88: what was sanitised, the
method (purge by cryptographic erase), the key, when, how it was verified and who did it. It is signed with the
trail's Ed25519 key, so it can be checked offline against /api/v1/audit/public-key, and recorded in the trail.

Nothing here knows who asked for a destruction beyond the requester and the reason. An exit keeps its own links to
the keys its lines scheduled and settles those lines itself from the keys' state (governance.exits.services).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Proposal
from accounts.operations import Operation, performs
from accounts.proposals import Done, Plan, ProposalKind
from audit import chain
from audit.models import SigningKey
from audit.trail import Actor, record
from governance.models.vault import Artefact, DataKey, DestructionCertificate
from governance.vault.artefacts import artefact_decryptable, artefact_storage, ciphertext_state

logger = logging.getLogger(__name__)
DESTROYER = Actor.system("destruction")
METHOD = "cryptographic erase"
# Version 2 no longer names the exit under "requested" (the vault does not know of exits; the reason still says
# what asked for it). Certificates issued before keep their own document and format.
CERTIFICATE_FORMAT = "accord-destruction-certificate/2"


class VerificationFailedError(RuntimeError):
    """After erasing the key, something could still be decrypted: nothing is certified, and the erase is undone."""


def grace() -> timedelta:
    return timedelta(hours=settings.ACCORD_DESTRUCTION_GRACE_HOURS)


def _partner_slug(data_key: DataKey) -> str:
    return data_key.partner.slug if data_key.partner is not None else ""


@performs(Operation.KEY_DESTROY)
@transaction.atomic
def destruction_schedule(
    *,
    data_key: DataKey,
    by: Actor,
    reason: str,
    not_before: datetime | None = None,
) -> DataKey:
    """Schedule the key's destruction for the end of the grace period (counted from ``not_before`` when a
    retention period comes first)."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for destroying: it goes on the certificate."})
    destroy_after = (not_before or timezone.now()) + grace()
    claimed = DataKey.objects.filter(pk=data_key.pk, status=DataKey.Status.ACTIVE).update(
        status=DataKey.Status.PENDING_DESTRUCTION,
        destroy_after=destroy_after,
        destruction_requested_by=by.label,
        destruction_reason=reason,
    )
    data_key.refresh_from_db()
    if not claimed:
        state = data_key.get_status_display().lower()
        message = f"Data key {data_key.key_id} is {state}: only an active key can be scheduled for destruction."
        raise ValidationError({"data_key": message})
    record(
        action="data_key.destruction_scheduled",
        actor=by,
        partner=_partner_slug(data_key),
        target=data_key,
        reason=reason,
        details={"key_id": data_key.key_id, "destroy_after": destroy_after, "artefacts": data_key.artefacts.count()},
    )
    return data_key


@performs(Operation.KEY_DESTROY)
@transaction.atomic
def destruction_cancel(*, data_key: DataKey, by: Actor, reason: str, now: datetime | None = None) -> DataKey:
    """Cancel a scheduled destruction within its grace period: the key and its files are kept."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for keeping it: it goes into the trail."})
    now = now or timezone.now()
    claimed = DataKey.objects.filter(
        pk=data_key.pk, status=DataKey.Status.PENDING_DESTRUCTION, destroy_after__gt=now
    ).update(status=DataKey.Status.ACTIVE, destroy_after=None)
    data_key.refresh_from_db()
    if not claimed:
        if data_key.status == DataKey.Status.PENDING_DESTRUCTION:
            message = "its grace period has ended and it is being destroyed now"
        else:
            message = f"it is {data_key.get_status_display().lower()}"
        raise ValidationError({"data_key": f"Data key {data_key.key_id} cannot be kept: {message}."})
    record(
        action="data_key.destruction_cancelled",
        actor=by,
        partner=_partner_slug(data_key),
        target=data_key,
        reason=reason,
        details={"key_id": data_key.key_id},
    )
    return data_key


@dataclass(frozen=True)
class DestructionRun:
    destroyed: list[DestructionCertificate]
    failed: int


def destructions_run(*, now: datetime | None = None) -> DestructionRun:
    """Destroy every key whose grace period has ended, each in its own transaction."""
    now = now or timezone.now()
    due = DataKey.objects.filter(status=DataKey.Status.PENDING_DESTRUCTION, destroy_after__lte=now).order_by(
        "destroy_after", "id"
    )
    certificates, failed = [], 0
    for data_key in due.select_related("asset_version__asset", "partner"):
        try:
            certificate = data_key_destroy(data_key=data_key, now=now)
        except VerificationFailedError as error:
            logger.error("Destruction of data key %s not certified: %s", data_key.key_id, error)
            failed += 1
            continue
        if certificate is not None:
            certificates.append(certificate)
    return DestructionRun(certificates, failed)


def data_key_destroy(*, data_key: DataKey, now: datetime | None = None) -> DestructionCertificate | None:
    """Erase the key, verify, certify: all or nothing. None when another run did it (or it was cancelled)."""
    now = now or timezone.now()
    artefacts = list(Artefact.objects.filter(data_key=data_key).order_by("id"))
    # The ciphertext is hashed before the transaction (it may be large); the certificate names it as found.
    found = {artefact.pk: ciphertext_state(artefact) for artefact in artefacts}
    with transaction.atomic():
        claimed = DataKey.objects.filter(
            pk=data_key.pk, status=DataKey.Status.PENDING_DESTRUCTION, destroy_after__lte=now
        ).update(status=DataKey.Status.DESTROYED, wrapped=None, destroyed_at=now)
        if not claimed:
            return None
        data_key.refresh_from_db()
        verification = _verify(data_key, artefacts, found)
        document = _certificate_document(data_key, artefacts, verification, now)
        signer = chain.signer_publish()
        certificate = DestructionCertificate.objects.create(
            number=document["number"],
            data_key=data_key,
            partner=data_key.partner,
            document=document,
            signature=signer.sign(document),
            signing_key_id=signer.key_id,
            issued_at=now,
        )
        record(
            action="data_key.destroyed",
            actor=DESTROYER,
            partner=_partner_slug(data_key),
            target=data_key,
            reason=data_key.destruction_reason,
            details={
                "key_id": data_key.key_id,
                "certificate": certificate.number,
                "certificate_sha256": hashlib.sha256(chain.canonical(document)).hexdigest(),
                "artefacts": len(artefacts),
            },
        )
    return certificate


def _verify(data_key: DataKey, artefacts: list[Artefact], found: dict[int, dict[str, Any]]) -> dict[str, Any]:
    stored = DataKey.objects.filter(pk=data_key.pk).values_list("wrapped", "status").get()
    copies = DataKey.objects.filter(key_check=data_key.key_check).exclude(pk=data_key.pk)
    checks = [
        {
            "artefact": artefact.uid,
            "ciphertext_present": found[artefact.pk]["present"],
            "ciphertext_unchanged": found[artefact.pk]["unchanged"],
            "decryptable": artefact_decryptable(artefact),
        }
        for artefact in artefacts
    ]
    problems = []
    if stored[0] is not None or stored[1] != DataKey.Status.DESTROYED:
        problems.append("the wrapped key is still stored")
    if copies.exclude(status=DataKey.Status.DESTROYED).exists():
        problems.append("another stored key has the same key check value")
    problems += [f"artefact {check['artefact']} still decrypts" for check in checks if check["decryptable"]]
    if problems:
        raise VerificationFailedError("; ".join(problems))
    return {
        "method": "The key's row was read back after the erase and holds no wrapped key; every other stored key "
        "was compared with it by key check value and none is a copy; each artefact's ciphertext was found and hashed "
        "before the erase; the store's read path was asked to decrypt each one and had no key to do it with.",
        "wrapped_key_erased": True,
        "other_copies_of_key": 0,
        "artefacts": checks,
        "result": "passed",
    }


def _certificate_document(
    data_key: DataKey, artefacts: list[Artefact], verification: dict[str, Any], now: datetime
) -> dict[str, Any]:
    version = data_key.asset_version
    storage = artefact_storage()
    return {
        "format": CERTIFICATE_FORMAT,
        "number": f"DC-{now:%Y%m%d}-{data_key.pk:06d}",
        "subject": {
            "description": _describe(data_key),
            "partner": _partner_slug(data_key) or None,
            "asset": None
            if version is None
            else {
                "name": version.asset.name,
                "version": version.label,
                "fingerprint": version.fingerprint,
                "classification": version.classification,
            },
            "artefacts": [
                {
                    "uid": artefact.uid,
                    "name": artefact.name,
                    "kind": artefact.kind,
                    "size_bytes": artefact.size_bytes,
                    "plaintext_sha256": artefact.sha256,
                    "ciphertext_sha256": artefact.ciphertext_sha256,
                }
                for artefact in artefacts
            ],
        },
        "media": {
            "type": "encrypted objects in the artefact store",
            "storage_backend": f"{type(storage).__module__}.{type(storage).__qualname__}",
            "note": "Ciphertext left in storage or its backups cannot be decrypted without the erased key.",
        },
        "sanitization": {
            "category": "purge",
            "method": METHOD,
            "technique": "the only stored copy of the AES-256-GCM data key (wrapped by the KEK) was erased",
            "key_id": data_key.key_id,
            "key_check": data_key.key_check,
            "kek_id": data_key.kek_id,
            "tool": "Accord artefact store",
        },
        "requested": {
            "by": data_key.destruction_requested_by,
            "reason": data_key.destruction_reason,
            "grace_period_ended": data_key.destroy_after.isoformat() if data_key.destroy_after else None,
        },
        "performed": {"by": DESTROYER.label, "at": now.isoformat()},
        "verification": verification,
    }


def _describe(data_key: DataKey) -> str:
    version = data_key.asset_version
    what = f"{version.asset.name} {version.label}" if version is not None else "outputs"
    if data_key.scope == DataKey.Scope.DELIVERY:
        return f"Delivery of {what} to {_partner_slug(data_key)}"
    return f"Files of {what}"


def certificate_valid(certificate: DestructionCertificate) -> bool:
    """The certificate's signature holds under the trail key it names."""
    key = SigningKey.objects.filter(key_id=certificate.signing_key_id).first()
    return key is not None and chain.signature_valid(certificate.document, certificate.signature, key.public_key)


@performs(Operation.KEY_DESTROY_NOW)
@transaction.atomic
def destruction_now(
    *, data_key: DataKey, by: Actor, reason: str, now: datetime | None = None
) -> DestructionCertificate:
    """Destroy a key at once, without waiting out the grace period (scheduled or not): the certificate is issued
    now. Two officers agree to this first (accounts.proposals): nothing can cancel it."""
    now = now or timezone.now()
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for destroying: it goes on the certificate."})
    claimed = DataKey.objects.filter(
        pk=data_key.pk, status__in=(DataKey.Status.ACTIVE, DataKey.Status.PENDING_DESTRUCTION)
    ).update(
        status=DataKey.Status.PENDING_DESTRUCTION,
        destroy_after=now,
        destruction_requested_by=by.label,
        destruction_reason=reason.strip(),
    )
    data_key.refresh_from_db()
    if not claimed:
        state = data_key.get_status_display().lower()
        raise ValidationError({"data_key": f"Data key {data_key.key_id} is {state}: there is nothing to destroy."})
    record(
        action="data_key.destruction_brought_forward",
        actor=by,
        partner=_partner_slug(data_key),
        target=data_key,
        reason=reason.strip(),
        details={"key_id": data_key.key_id, "artefacts": data_key.artefacts.count()},
    )
    certificate = data_key_destroy(data_key=data_key, now=now)
    if certificate is None:  # another run destroyed it between the claim and here: it holds the row's lock now
        raise ValidationError({"data_key": f"Data key {data_key.key_id} was destroyed a moment ago by the schedule."})
    return certificate


def _destroy_now_plan(target: str, proposer: Any) -> Plan:
    data_key = DataKey.objects.select_related("partner").filter(key_id=target).first()
    if data_key is None:
        raise ValidationError({"target": f"There is no data key {target!r}: name it by its key id."})
    if data_key.status not in (DataKey.Status.ACTIVE, DataKey.Status.PENDING_DESTRUCTION):
        state = data_key.get_status_display().lower()
        raise ValidationError({"target": f"Data key {data_key.key_id} is {state}: there is nothing to destroy."})
    names = list(data_key.artefacts.order_by("id").values_list("name", flat=True)[:20])
    count = data_key.artefacts.count()
    when = (
        f"instead of after its grace period ends ({data_key.destroy_after:%Y-%m-%d %H:%M} UTC)"
        if data_key.destroy_after
        else "without a grace period: it is not scheduled"
    )
    lines = [
        f"Data key {data_key.key_id} is erased at confirmation, {when}; nothing can cancel it then.",
        f"Its {count} artefact{'s' if count != 1 else ''} can no longer be decrypted"
        + (f": {', '.join(names)}{' and more' if count > len(names) else ''}." if names else "."),
        "A signed certificate of destruction is issued and recorded in the trail.",
    ]
    owner = f", {data_key.partner.name}" if data_key.partner is not None else ""
    return Plan(target_label=f"data key {data_key.key_id}{owner}", partner=_partner_slug(data_key), lines=lines)


def _destroy_now_carry_out(proposal: Proposal, by: Actor) -> Done:
    data_key = DataKey.objects.get(key_id=proposal.target)
    certificate = destruction_now(data_key=data_key, by=by, reason=proposal.reason)
    return Done(
        f"Data key {data_key.key_id} is destroyed; certificate {certificate.number} is issued.",
        reverse("certificate-detail", kwargs={"number": certificate.number}),
    )


KEY_DESTROY_NOW_PROPOSAL = ProposalKind(
    kind=Proposal.Kind.KEY_DESTROY_NOW,
    operation=Operation.KEY_DESTROY_NOW,
    plan=_destroy_now_plan,
    carry_out=_destroy_now_carry_out,
    target_hint="the data key's key id",
)
