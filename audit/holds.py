"""Legal holds: records and the events about them, frozen into one evidence bundle with its own hash.

The caller (an incident, say) hands over the records as plain JSON, named by their type and id as the trail
names targets; the events about them are copied from the trail with their place in the chain, so the bundle can
later be checked against the chain. Placing the hold is itself an event in the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from audit import chain
from audit.models import Event, EvidenceBundle
from audit.trail import Actor, record


def _related(records: Sequence[dict[str, Any]], partner: str, since: datetime | None) -> list[dict[str, Any]]:
    about = Q(pk__in=[])
    for item in records:
        if not item["type"]:
            raise ValueError("Name each held record by its type, as the trail names targets (app.model).")
        about |= Q(target_type=item["type"], target_id=str(item["id"]))
    if partner:
        about |= Q(partner=partner, occurred_at__gte=since) if since else Q(partner=partner)
    fields = ("chain_seq", "digest", "chain_hash", *chain.BODY_FIELDS)
    rows = Event.objects.filter(about).order_by("id").values_list(*fields)
    return [
        {"chain_seq": row[0], "digest": row[1], "chain_hash": row[2],
         "event": chain.event_body(dict(zip(chain.BODY_FIELDS, row[3:], strict=True)))}
        for row in rows
    ]  # fmt: skip


@transaction.atomic
def legal_hold_place(
    *,
    title: str,
    reason: str,
    records: Sequence[dict[str, Any]],
    by: Actor,
    partner: str = "",
    since: datetime | None = None,
) -> EvidenceBundle:
    """Freeze ``records`` ({"type", "id", "data"} each) and the events about them (and, with ``partner``, that
    partner's events since ``since``) into an evidence bundle; record the hold in the trail."""
    if not reason.strip():
        raise ValueError("A legal hold needs its reason: it is part of the evidence.")
    content = {
        "title": title,
        "reason": reason,
        "records": [{"type": item["type"], "id": str(item["id"]), "data": item.get("data", {})} for item in records],
        "events": _related(records, partner, since),
    }
    # Stored as the JSON it hashes, so the hash can be recomputed from the stored content.
    plain = chain.canonical(content)
    bundle = EvidenceBundle.objects.create(
        title=title,
        reason=reason,
        placed_by=by.label,
        content=json.loads(plain),
        content_hash=hashlib.sha256(plain).hexdigest(),
    )
    record(
        action="audit.legal_hold_placed",
        actor=by,
        partner=partner,
        target=bundle,
        reason=reason,
        details={"content_hash": bundle.content_hash, "records": len(records), "events": len(content["events"])},
    )
    return bundle


def evidence_intact(bundle: EvidenceBundle) -> bool:
    """The bundle's content still has the hash that the trail recorded when the hold was placed (the bundle's
    own copy of the hash could have been rewritten with the content; the sealed event's cannot, unseen)."""
    placed = Event.objects.filter(
        action="audit.legal_hold_placed", target_type=bundle._meta.label_lower, target_id=str(bundle.pk)
    ).values_list("details", flat=True)
    recorded = {details.get("content_hash") for details in placed}
    recomputed = hashlib.sha256(chain.canonical(bundle.content)).hexdigest()
    return recorded == {recomputed} and bundle.content_hash == recomputed
