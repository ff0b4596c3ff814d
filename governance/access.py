"""Who may see and act on grants. Views ask here and nowhere else."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Partner, User
from accounts.operations import Operation, may
from accounts.roles import Role
from charters.models import AssetVersion, Charter
from charters.terms import terms_of
from governance.models import DestructionCertificate, Exit, Grant, Incident, IncidentStep, PartnerRole


def partner_of(user: User) -> Partner:
    return Partner.objects.get(pk=user.organisation_id)


def grants_visible_to(user: User) -> QuerySet[Grant]:
    grants = Grant.objects.select_related(
        "principal", "partner_role", "charter", "charter_version", "asset_version__asset", "partner", "requested_by"
    )
    if user.is_host_member:
        return grants
    if user.organisation.is_host:
        return grants.none()
    if user.is_service:  # a principal sees the grants it may use: its own, and its partner roles'
        mine = Q(principal=user) | Q(partner_role__members=user)
        return grants.filter(mine, partner_id=user.organisation_id).distinct()
    return grants.filter(partner_id=user.organisation_id)


def grant_get_for_user(user: User, pk: int) -> Grant:
    grant = grants_visible_to(user).filter(pk=pk).first()
    if grant is None:
        raise Http404("No such grant.")
    return grant


def can_decide_grants(user: User) -> bool:
    return may(user, Operation.GRANT_DECIDE)


def roles_visible_to(user: User) -> QuerySet[PartnerRole]:
    roles = PartnerRole.objects.select_related("partner").prefetch_related("members")
    if user.is_host_member:
        return roles
    if user.organisation.is_host or user.is_service:
        return roles.none()
    return roles.filter(partner_id=user.organisation_id)


def role_get_for_admin(user: User, slug: str) -> PartnerRole:
    """A role of the user's own partner, which only that partner's admins manage."""
    role = PartnerRole.objects.select_related("partner").filter(partner_id=user.organisation_id, slug=slug).first()
    if role is None or user.is_service or user.organisation.is_host:
        raise Http404("No such partner role.")
    return role


def can_see_bundles(user: User) -> bool:
    """Bundles hold every partner's lines: the host's officers and auditors only."""
    return user.is_host_member


def exits_visible_to(user: User) -> QuerySet[Exit]:
    """The host's officers and auditors see every exit; a partner's admins see their own partner's."""
    exits = Exit.objects.select_related("charter", "partner")
    if user.is_host_member:
        return exits
    if user.organisation.is_host or user.is_service or not user.has_role(Role.PARTNER_ADMIN):
        return exits.none()
    return exits.filter(partner_id=user.organisation_id)


def exit_get_for_user(user: User, pk: int) -> Exit:
    exit_ = exits_visible_to(user).filter(pk=pk).first()
    if exit_ is None:
        raise Http404("No such exit.")
    return exit_


def certificate_get_for_user(user: User, number: str) -> DestructionCertificate:
    """A certificate of destruction: any for the host's officers and auditors, a partner's admins their own."""
    certificates = DestructionCertificate.objects.select_related("data_key", "partner")
    if not user.is_host_member:
        if user.organisation.is_host or user.is_service or not user.has_role(Role.PARTNER_ADMIN):
            certificates = certificates.none()
        else:
            # Its deliveries' certificates, and those of its own assets' files destroyed by its exit.
            own = Q(partner_id=user.organisation_id) | Q(data_key__exit_items__exit__partner_id=user.organisation_id)
            certificates = certificates.filter(own)
    certificate = certificates.filter(number=number).first()
    if certificate is None:
        raise Http404("No such certificate.")
    return certificate


def incidents_visible_to(user: User) -> QuerySet[Incident]:
    """Incidents hold the host's investigation: its officers and auditors only."""
    incidents = Incident.objects.select_related("charter", "partner", "playbook")
    return incidents if user.is_host_member else incidents.none()


def incident_get_for_user(user: User, pk: int) -> Incident:
    incident = incidents_visible_to(user).filter(pk=pk).first()
    if incident is None:
        raise Http404("No such incident.")
    return incident


def partner_steps_of(user: User) -> QuerySet[IncidentStep]:
    """The incident steps a partner's admin answers: those the playbook gives the partner admin, in their own
    partner's incidents (never a drill's: a partner is not told of one). None for anyone else."""
    if user.is_host_member or user.is_service:
        return IncidentStep.objects.none()
    return IncidentStep.objects.filter(
        incident__partner_id=user.organisation_id, incident__drill=False, owner_role=Role.PARTNER_ADMIN
    ).select_related("incident")


def asset_version_known_to(partner_id: int, fingerprint: str) -> AssetVersion | None:
    """The asset version a partner admin names by fingerprint, if the partner may know of it: one of its own
    assets, or one a charter of the partner shares. Any other is answered as a fingerprint that does not exist,
    never by a message that names it or tells that it exists."""
    version = AssetVersion.objects.select_related("asset").filter(fingerprint=fingerprint).first()
    if version is None or version.asset.owner_id == partner_id:
        return version
    charters = Charter.objects.select_related("active_version").filter(partner_id=partner_id)
    shared = any(
        charter.active_version is not None and fingerprint in terms_of(charter.active_version).shareable_fingerprints
        for charter in charters
    )
    return version if shared else None
