"""Reading exits: what an exit waits for, what it destroyed, and its report."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiToken
from audit import chain
from charters.vocabulary import Disposition
from governance.models import DataKey, DestructionCertificate, Exit, ExitAttestation, ExitItem, Grant


def attestation_wanted(exit_: Exit) -> bool:
    """The plan asks for one, and there is something it destroys to attest."""
    return bool(exit_.plan.get("partner_attests_destruction")) and bool(destroyed_fingerprints(exit_))


def destroyed_fingerprints(exit_: Exit) -> list[str]:
    """The asset versions the partner must attest it destroyed: those of the plan's destroy lines."""
    items = exit_.items.filter(disposition=Disposition.DESTROY, asset_version__isnull=False)
    return sorted(items.values_list("asset_version__fingerprint", flat=True))


def exit_certificates(exit_: Exit) -> QuerySet[DestructionCertificate]:
    """The certificates of destruction of the keys the exit's lines scheduled."""
    return DestructionCertificate.objects.filter(data_key__exit_items__exit=exit_)


def exit_item_of_key(data_key: DataKey) -> ExitItem | None:
    """The exit line that scheduled the key's destruction, if one did."""
    return ExitItem.objects.filter(keys=data_key).first()


def certificate_exit(certificate: DestructionCertificate) -> Exit | None:
    """The exit whose line scheduled the destruction a certificate records, if one did."""
    return Exit.objects.filter(items__keys=certificate.data_key_id).first()


def exit_blockers(exit_: Exit) -> list[str]:
    """What the exit still waits for, as people would say it."""
    if exit_.status == Exit.Status.REVOKING:
        return ["Access is still being revoked."]
    waiting = []
    for item in exit_.items.exclude(status__in=ExitItem.FINAL):
        if item.status == ExitItem.Status.SCHEDULED:
            due = item.keys.exclude(status=DataKey.Status.DESTROYED).order_by("-destroy_after").first()
            when = f" (grace period ends {due.destroy_after:%Y-%m-%d %H:%M} UTC)" if due and due.destroy_after else ""
            waiting.append(f"{item.subject}: destruction scheduled{when}.")
        else:
            waiting.append(f"{item.subject}: {item.get_status_display().lower()}.")
    if attestation_wanted(exit_) and not ExitAttestation.objects.filter(exit=exit_).exists():
        waiting.append("The partner admin's attestation of destruction.")
    return waiting


def exit_report(exit_: Exit, *, closed_at: datetime | None = None) -> dict[str, Any]:
    """What the exit did, line by line, with its certificates: the final report once closed, a draft before."""
    grants = Grant.objects.filter(charter=exit_.charter)
    tokens = ApiToken.objects.filter(user__organisation=exit_.partner)
    attestation = ExitAttestation.objects.filter(exit=exit_).select_related("partner_admin").first()
    certificates = exit_certificates(exit_).order_by("number")
    items = []
    for item in exit_.items.select_related("asset_version").order_by("id"):
        keys = item.keys.select_related("certificate").order_by("id")
        items.append(
            {
                "subject": item.subject,
                "asset": item.asset_version.fingerprint if item.asset_version else None,
                "disposition": item.disposition,
                "retention_days": item.retention_days,
                "status": item.status,
                "note": item.note,
                "done_by": item.done_by or None,
                "done_at": item.done_at.isoformat() if item.done_at else None,
                "keys": [
                    {
                        "key_id": key.key_id,
                        "status": key.status,
                        "destroy_after": key.destroy_after.isoformat() if key.destroy_after else None,
                        "certificate": getattr(getattr(key, "certificate", None), "number", None),
                    }
                    for key in keys
                ],
            }
        )
    return {
        "charter": exit_.charter.slug,
        "partner": exit_.partner.slug,
        "reason": exit_.reason,
        "started_by": exit_.started_by,
        "started_at": exit_.started_at.isoformat(),
        "closed_at": closed_at.isoformat() if closed_at else None,
        "access": {
            "grants": {status: grants.filter(status=status).count() for status in Grant.Status.values},
            "ends_partner_access": exit_.ends_partner_access,
            "tokens_revoked": tokens.filter(revoked_at__isnull=False).count(),
            "tokens_active": tokens.filter(revoked_at__isnull=True).count(),
        },
        "items": items,
        "outputs_owner": exit_.plan.get("outputs_owner"),
        "knowledge_transfer": exit_.plan.get("knowledge_transfer", []),
        "attestation": None
        if attestation is None
        else {
            "by": attestation.partner_admin.username,
            "at": attestation.attested_at.isoformat(),
            "statement": attestation.statement,
            "method": attestation.method,
            "destroyed": attestation.destroyed,
        },
        "certificates": [
            {
                "number": certificate.number,
                "key_id": certificate.data_key.key_id,
                "issued_at": certificate.issued_at.isoformat(),
                "document_sha256": hashlib.sha256(chain.canonical(certificate.document)).hexdigest(),
            }
            for certificate in certificates.select_related("data_key")
        ],
    }
