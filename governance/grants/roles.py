"""Partner roles: named groups of one partner's principals that grants can be given to. Every change is audited,
because membership changes what the policy allows."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import partner_only
from accounts.models import Partner, User
from accounts.operations import Operation, performs, person_or_none
from audit.trail import Actor, record
from charters.services.policy_feed import Kind, policy_changed
from governance.models import PartnerRole


@performs(Operation.PARTNER_ROLE_MANAGE)
@transaction.atomic
def partner_role_create(*, partner: Partner, slug: str, title: str = "", by: Actor) -> PartnerRole:
    partner_only(person_or_none(by), partner)
    role = PartnerRole(partner=partner, slug=slug, title=title)
    if PartnerRole.objects.filter(partner=partner, slug=slug).exists():
        raise ValidationError({"slug": f"{partner.name} already has a role called {slug!r}."})
    role.full_clean()
    role.save()
    record(action="partner_role.created", actor=by, partner=partner.slug, target=role, details={"role": slug})
    return role


def _member_check(role: PartnerRole, principal: User, by: Actor) -> None:
    partner_only(person_or_none(by), role.partner)
    if not (principal.is_service and principal.organisation_id == role.partner_id):
        raise ValidationError({"principal": f"{principal.username} is not a principal of {role.partner.name}."})


def _policy_changed(role: PartnerRole, by: Actor) -> None:
    members = sorted(role.members.values_list("pk", flat=True))
    policy_changed(Kind.ROLE, role.pk, state={"members": members}, by=by)


@performs(Operation.PARTNER_ROLE_MANAGE)
@transaction.atomic
def partner_role_add_member(*, role: PartnerRole, principal: User, by: Actor) -> PartnerRole:
    _member_check(role, principal, by)
    if not role.members.filter(pk=principal.pk).exists():
        role.members.add(principal)
        _policy_changed(role, by)
        record(
            action="partner_role.member_added",
            actor=by,
            partner=role.partner.slug,
            target=role,
            details={"role": role.slug, "principal": principal.username},
        )
    return role


@performs(Operation.PARTNER_ROLE_MANAGE)
@transaction.atomic
def partner_role_remove_member(*, role: PartnerRole, principal: User, by: Actor) -> PartnerRole:
    if role.members.filter(pk=principal.pk).exists():
        role.members.remove(principal)
        _policy_changed(role, by)
        record(
            action="partner_role.member_removed",
            actor=by,
            partner=role.partner.slug,
            target=role,
            details={"role": role.slug, "principal": principal.username},
        )
    return role
