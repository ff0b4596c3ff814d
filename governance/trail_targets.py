"""How the trail names this app's records (audit.presentation, which finds this module): each kind's ids of a page
named in one query, from what the reader may see, linked to the page that shows the record; and the values of the
details' keys that name them in every event (``grant``, ``review``, a decision's ``bundle`` hash and
``decision_id``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from accounts.models import User
from audit.presentation import Namer, Target, detail_register, pks, target_register
from governance import access
from governance.models import (
    AnomalyFinding,
    Artefact,
    DataKey,
    DecisionSession,
    DestructionCertificate,
    Measurement,
    MeasurementList,
    PolicyBundle,
    ReviewCampaign,
    ReviewItem,
    WhatIfRun,
)


def _grant_url(pk: int) -> str:
    return f"{reverse('grant-list')}?grant={pk}"


def grants(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.grants_visible_to(viewer).select_related(None).select_related("principal", "partner_role__partner")
    return {
        str(pk): Target(f"grant #{pk} ({grant.grantee})", _grant_url(pk))
        for pk, grant in found.in_bulk(pks(ids)).items()
    }


def roles(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.roles_visible_to(viewer).prefetch_related(None).in_bulk(pks(ids))
    return {str(pk): Target(f"role {role}") for pk, role in found.items()}


def bundles(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not access.can_see_bundles(viewer):
        return {}
    found = PolicyBundle.objects.only("seq", "hash").in_bulk(pks(ids))
    return {
        str(pk): Target(f"bundle {bundle.hash[:12]} (change {bundle.seq})", reverse("bundle-detail", args=[bundle.seq]))
        for pk, bundle in found.items()
    }


def incidents(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.incidents_visible_to(viewer).select_related(None).in_bulk(pks(ids))
    return {
        str(pk): Target(
            f"{'drill' if incident.drill else 'incident'} #{pk}: {incident.title}",
            reverse("incident-detail", args=[pk]),
        )
        for pk, incident in found.items()
    }


def findings(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:  # findings belong to the host's investigation, as incidents do
        return {}
    found = AnomalyFinding.objects.in_bulk(pks(ids))
    return {
        str(pk): Target(
            f"anomaly {finding.name} on grant #{finding.grant_id}",
            reverse("incident-detail", args=[finding.incident_id])
            if finding.incident_id
            else _grant_url(finding.grant_id),
        )
        for pk, finding in found.items()
    }


def reviews(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = ReviewCampaign.objects.select_related("charter").in_bulk(pks(ids))
    return {
        str(pk): Target(f"access review #{pk} of {campaign.charter.slug}", reverse("review-detail", args=[pk]))
        for pk, campaign in found.items()
    }


def review_items(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = ReviewItem.objects.only("campaign_id", "grant_id").in_bulk(pks(ids))
    return {
        str(pk): Target(
            f"grant #{item.grant_id} in access review #{item.campaign_id}",
            reverse("review-detail", args=[item.campaign_id]),
        )
        for pk, item in found.items()
    }


def exits(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    found = access.exits_visible_to(viewer).in_bulk(pks(ids))
    return {
        str(pk): Target(f"exit of {exit_.charter.slug}", reverse("exit-detail", args=[pk]))
        for pk, exit_ in found.items()
    }


def data_keys(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = DataKey.objects.select_related("certificate").in_bulk(pks(ids))
    named = {}
    for pk, key in found.items():
        certificate = getattr(key, "certificate", None)
        url = reverse("certificate-detail", args=[certificate.number]) if certificate else reverse("artefact-list")
        named[str(pk)] = Target(f"data key {key.key_id[:12]}…", url)
    return named


def artefacts(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = Artefact.objects.only("name").in_bulk(pks(ids))
    return {str(pk): Target(f"file {artefact.name}", reverse("artefact-list")) for pk, artefact in found.items()}


def certificates(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = DestructionCertificate.objects.only("number").in_bulk(pks(ids))
    return {
        str(pk): Target(f"certificate {certificate.number}", reverse("certificate-detail", args=[certificate.number]))
        for pk, certificate in found.items()
    }


def sessions(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = DecisionSession.objects.only("grant_id").in_bulk(pks(ids))
    return {
        str(pk): Target(f"session for grant #{session.grant_id}", _grant_url(session.grant_id))
        for pk, session in found.items()
    }


def whatifs(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = WhatIfRun.objects.only("pk").in_bulk(pks(ids))
    return {str(pk): Target(f"what-if #{pk}", reverse("whatif-detail", args=[pk])) for pk in found}


def measurement_lists(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:  # the host's own allow-lists, as the matrix keeps their pages
        return {}
    found = MeasurementList.objects.only("name").in_bulk(pks(ids))
    return {
        str(pk): Target(f"measurement list {allow_list.name}", reverse("measurement-list", args=[allow_list.name]))
        for pk, allow_list in found.items()
    }


def measurement_lists_by_name(viewer: User, names: Sequence[str]) -> dict[str, Target]:
    """A measurement event's ``allow_list``: the list's name."""
    if not viewer.is_host_member:
        return {}
    found = MeasurementList.objects.filter(name__in=names).values_list("name", flat=True)
    return {name: Target(name, reverse("measurement-list", args=[name])) for name in found}


def measurements(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    if not viewer.is_host_member:
        return {}
    found = Measurement.objects.select_related("allow_list").only("platform", "allow_list__name").in_bulk(pks(ids))
    return {
        str(pk): Target(
            f"{entry.get_platform_display()} measurement #{pk} on {entry.allow_list.name}",
            f"{reverse('measurement-list', args=[entry.allow_list.name])}#entry-{pk}",
        )
        for pk, entry in found.items()
    }


def bundles_by_hash(viewer: User, hashes: Sequence[str]) -> dict[str, Target]:
    """Bundles by hash, the newest of each (a policy can return to an earlier state)."""
    if not access.can_see_bundles(viewer):
        return {}
    newest: dict[str, PolicyBundle] = {}
    for bundle in PolicyBundle.objects.only("seq", "hash").filter(hash__in=hashes).order_by("seq"):
        newest[bundle.hash] = bundle
    return {
        bundle_hash: Target(
            f"bundle {bundle_hash[:12]} (change {bundle.seq})", reverse("bundle-detail", args=[bundle.seq])
        )
        for bundle_hash, bundle in newest.items()
    }


def decisions(viewer: User, ids: Sequence[str]) -> dict[str, Target]:
    """A decision's id links its explanation (which the host's staff read)."""
    if not viewer.is_host_member:
        return {}
    return {
        decision_id: Target(decision_id, f"{reverse('decision-explain')}?decision={decision_id}") for decision_id in ids
    }


TARGETS: dict[str, Namer] = {
    "governance.grant": grants,
    "governance.partnerrole": roles,
    "governance.policybundle": bundles,
    "governance.incident": incidents,
    "governance.anomalyfinding": findings,
    "governance.reviewcampaign": reviews,
    "governance.reviewitem": review_items,
    "governance.exit": exits,
    "governance.datakey": data_keys,
    "governance.artefact": artefacts,
    "governance.destructioncertificate": certificates,
    "governance.decisionsession": sessions,
    "governance.whatifrun": whatifs,
    "governance.measurementlist": measurement_lists,
    "governance.measurement": measurements,
}
for kind, namer in TARGETS.items():
    target_register(kind, namer)

DETAILS: dict[str, Namer] = {
    "grant": grants,
    "review": reviews,
    "bundle": bundles_by_hash,
    "decision_id": decisions,
    "allow_list": measurement_lists_by_name,
}
for key, namer in DETAILS.items():
    detail_register(key, namer)
