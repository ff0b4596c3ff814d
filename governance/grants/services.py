"""Grants: requested by partner admins, approved by officers, never beyond the charter they stand on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import partner_only
from accounts.models import Partner, User
from accounts.operations import Operation, performs, person
from audit.trail import Actor, record
from charters.models import AssetVersion, Charter, CharterVersion
from charters.services.policy_feed import Kind, policy_changed
from charters.terms import terms_of
from governance.attestation.claims import policy_problems
from governance.decisions.sessions import sessions_end
from governance.models import Grant, PartnerRole
from governance.policy.bundle import GrantFact

Status = Grant.Status


def charter_limits(
    version: CharterVersion,
    asset_version: AssetVersion,
    actions: list[str],
    purposes: list[str],
    valid_from: datetime,
    valid_until: datetime,
) -> dict[str, str]:
    """Why a grant would exceed this charter version, by field; empty when it fits."""
    problems: dict[str, str] = {}
    terms = terms_of(version)
    if asset_version.fingerprint not in terms.shareable_fingerprints:
        problems["asset_version"] = (
            f"{asset_version.asset.name} {asset_version.label} is not shareable under {version.charter.slug} "
            f"v{version.number}. Ask an officer to amend the charter first."
        )
        return problems
    permitted = terms.permissions.get(asset_version.asset.kind, {})
    refused_actions = [action for action in actions if action not in permitted]
    if refused_actions:
        problems["actions"] = (
            f"The charter does not permit {', '.join(refused_actions)} on a {asset_version.asset.kind} "
            f"(it permits {', '.join(sorted(permitted)) or 'nothing'})."
        )
    refused_purposes = sorted(
        {
            purpose
            for action in actions
            if action in permitted
            for purpose in purposes
            if purpose not in permitted[action]["purposes"]
        }
    )
    if refused_purposes:
        problems["purposes"] = (
            f"The charter does not permit {', '.join(refused_purposes)} for {', '.join(actions)} on this asset."
        )
    window = terms.window
    if valid_from >= valid_until:
        problems["valid_until"] = "A grant must end after it starts."
    elif valid_from < window.starts or valid_until > window.ends:
        problems["valid_until"] = (
            f"The grant's window must lie within the charter's, {window.first_day} to {window.last_day}."
        )
    return problems


def _attestation_problems(
    permitted: Mapping[str, Mapping[str, Any]],
    actions: list[str],
    requires_attestation: bool,
    policy: dict[str, Any] | None,
) -> dict[str, str]:
    """A grant that requires attestation needs its charter to say how for each of its actions; its own claims
    policy must be well formed, and only applies where attestation is asked."""
    problems: dict[str, str] = {}
    unsaid = [action for action in actions if action in permitted and not permitted[action].get("attestation")]
    if requires_attestation and unsaid:
        problems["requires_attestation"] = (
            f"The charter does not say which verifiers and claims are accepted for {', '.join(sorted(unsaid))}, so an "
            "enclave could never be attested for them. Ask an officer to add attestation terms to the charter."
        )
    if policy:
        found = policy_problems(policy)
        if found:
            problems["attestation_policy"] = "; ".join(found[:5])
        elif not requires_attestation and len(unsaid) == len([a for a in actions if a in permitted]):
            problems["attestation_policy"] = (
                "A claims policy only applies to a grant whose use needs attestation: set requires_attestation, or "
                "leave the policy out."
            )
    return problems


def _charter_for(partner: Partner, asset_version: AssetVersion) -> Charter:
    charters = Charter.objects.select_related("active_version").filter(partner=partner, status=Charter.Status.ACTIVE)
    for charter in charters:
        if (
            charter.active_version
            and asset_version.fingerprint in terms_of(charter.active_version).shareable_fingerprints
        ):
            return charter
    raise ValidationError(
        {
            "asset_version": f"No active charter of {partner.name} shares {asset_version.asset.name} "
            f"{asset_version.label}. Ask an officer to amend a charter first."
        }
    )


@performs(Operation.GRANT_REQUEST)
@transaction.atomic
def grant_request(
    *,
    partner: Partner,
    asset_version: AssetVersion,
    actions: list[str],
    purposes: list[str],
    valid_from: datetime,
    valid_until: datetime,
    daily_quota: int,
    monthly_quota: int,
    rate_per_minute: int,
    justification: str,
    by: Actor,
    principal: User | None = None,
    partner_role: PartnerRole | None = None,
    requires_session: bool = False,
    requires_attestation: bool = False,
    attestation_policy: dict[str, Any] | None = None,
) -> Grant:
    """A partner admin asks for access for one of their principals (or a role of them), within the charter. A grant
    may add a claims policy of its own to what the charter asks of an enclave: evidence must meet both."""
    requested_by = person(by)
    partner_only(requested_by, partner)
    if (principal is None) == (partner_role is None):
        raise ValidationError({"principal": "Name either one principal or one partner role."})
    if principal is not None and not (principal.is_service and principal.organisation_id == partner.pk):
        raise ValidationError({"principal": f"{principal.username} is not a principal of {partner.name}."})
    if partner_role is not None and partner_role.partner_id != partner.pk:
        raise ValidationError({"partner_role": f"{partner_role} is not a role of {partner.name}."})
    if not justification.strip():
        raise ValidationError({"justification": "Say why this access is needed; the approving officer reads it."})
    if not actions or not purposes:
        raise ValidationError({"actions": "Name at least one action and one purpose."})
    charter = _charter_for(partner, asset_version)
    assert charter.active_version is not None  # noqa: S101 (_charter_for only returns charters with one)
    problems = charter_limits(charter.active_version, asset_version, actions, purposes, valid_from, valid_until)
    problems.update(
        _attestation_problems(
            terms_of(charter.active_version).permissions.get(asset_version.asset.kind, {}),
            actions,
            requires_attestation,
            attestation_policy,
        )
    )
    if problems:
        raise ValidationError(problems)
    grant = Grant(
        partner=partner,
        principal=principal,
        partner_role=partner_role,
        charter=charter,
        charter_version=charter.active_version,
        asset_version=asset_version,
        actions=sorted(set(actions)),
        purposes=sorted(set(purposes)),
        valid_from=valid_from,
        valid_until=valid_until,
        daily_quota=daily_quota,
        monthly_quota=monthly_quota,
        rate_per_minute=rate_per_minute,
        requires_session=requires_session,
        requires_attestation=requires_attestation,
        attestation_policy=attestation_policy or None,
        justification=justification,
        requested_by=requested_by,
    )
    grant.full_clean()
    grant.save()
    record(action="grant.requested", actor=by, partner=partner.slug, target=grant, details=_summary(grant))
    return grant


def _summary(grant: Grant, **extra: Any) -> dict[str, Any]:
    return {
        "grantee": grant.grantee,
        "charter": grant.charter.slug,
        "asset": grant.asset_version.fingerprint,
        "actions": grant.actions,
        "purposes": grant.purposes,
        "status": grant.status,
        **extra,
    }


# A grant that stops (for a while or for good) ends its sessions: resumed or released, it starts with none, so an
# attested enclave attests again.
ENDS_SESSIONS = {"suspended": "grant_suspended", "held": "incident_hold", "revoked": "grant_revoked"}


def _transition(
    grant: Grant, *, old: tuple[str, ...], action: str, by: Actor, reason: str = "", **changes: Any
) -> Grant:
    # Compare-and-swap on the status: another officer may have acted on this grant a moment ago.
    claimed = Grant.objects.filter(pk=grant.pk, status__in=old).update(**changes)
    grant.refresh_from_db()
    if not claimed:
        raise ValidationError(
            {"status": f"Grant #{grant.pk} is {grant.get_status_display().lower()}; it cannot be {action} from there."}
        )
    policy_changed(Kind.GRANT, grant.pk, state=GrantFact.of(grant).as_state(), by=by)
    if action in ENDS_SESSIONS:
        sessions_end(reason=ENDS_SESSIONS[action], by=by, grant_id=grant.pk)
    record(
        action=f"grant.{action}",
        actor=by,
        partner=grant.partner.slug,
        target=grant,
        reason=reason,
        outcome="success",
        details=_summary(grant),
    )
    return grant


@performs(Operation.GRANT_DECIDE)
@transaction.atomic
def grant_approve(*, grant: Grant, by: Actor) -> Grant:
    """Activate a requested grant. Never one's own request; never beyond the charter's active version."""
    approver = person(by)
    if grant.requested_by_id == approver.pk:
        raise ValidationError({"approver": "You requested this grant; another officer must approve it."})
    charter = Charter.objects.select_related("active_version").get(pk=grant.charter_id)
    if charter.status != Charter.Status.ACTIVE or charter.active_version is None:
        raise ValidationError({"charter": f"Charter {charter.slug} is {charter.status}; grants under it cannot start."})
    problems = charter_limits(
        charter.active_version, grant.asset_version, grant.actions, grant.purposes, grant.valid_from, grant.valid_until
    )
    if problems:
        raise ValidationError(problems)
    return _transition(
        grant,
        old=(Status.REQUESTED,),
        action="approved",
        by=by,
        status=Status.ACTIVE,
        approved_by=approver,
        decided_at=timezone.now(),
        charter_version=charter.active_version,
    )


@performs(Operation.GRANT_DECIDE)
@transaction.atomic
def grant_refuse(*, grant: Grant, by: Actor, reason: str) -> Grant:
    return _transition(
        grant,
        old=(Status.REQUESTED,),
        action="refused",
        by=by,
        reason=_reason(reason),
        status=Status.REFUSED,
        status_reason=reason,
        decided_at=timezone.now(),
    )


@performs(Operation.GRANT_SUSPEND)
@transaction.atomic
def grant_suspend(*, grant: Grant, by: Actor, reason: str) -> Grant:
    return _transition(
        grant,
        old=(Status.ACTIVE,),
        action="suspended",
        by=by,
        reason=_reason(reason),
        status=Status.SUSPENDED,
        status_reason=reason,
    )


@performs(Operation.GRANT_RESUME)
@transaction.atomic
def grant_resume(*, grant: Grant, by: Actor, reason: str) -> Grant:
    return _transition(
        grant,
        old=(Status.SUSPENDED,),
        action="resumed",
        by=by,
        reason=_reason(reason),
        status=Status.ACTIVE,
        status_reason=reason,
    )


@performs(Operation.GRANT_REVOKE)
@transaction.atomic
def grant_revoke(*, grant: Grant, by: Actor, reason: str) -> Grant:
    return _transition(
        grant,
        old=(Status.REQUESTED, Status.ACTIVE, Status.SUSPENDED),
        action="revoked",
        by=by,
        reason=_reason(reason),
        status=Status.REVOKED,
        status_reason=reason,
    )


@performs(Operation.GRANT_EXPIRE)
@transaction.atomic
def grant_expire(*, grant: Grant, by: Actor, reason: str) -> Grant:
    """The grant's window ended, or its charter's did. Final, like a revocation: a new grant is requested."""
    return _transition(
        grant,
        old=Grant.LIVE,
        action="expired",
        by=by,
        reason=_reason(reason),
        status=Status.EXPIRED,
        status_reason=reason,
    )


@performs(Operation.GRANT_HOLD)
@transaction.atomic
def grant_hold(*, grant: Grant, by: Actor, reason: str) -> Grant:
    """An incident holds the grant: denied (deny-override) until released, whatever its status says."""
    return _transition(
        grant,
        old=Grant.LIVE,
        action="held",
        by=by,
        reason=_reason(reason),
        held_at=timezone.now(),
    )


@performs(Operation.GRANT_HOLD)
@transaction.atomic
def grant_release(*, grant: Grant, by: Actor, reason: str) -> Grant:
    return _transition(grant, old=Grant.LIVE, action="released", by=by, reason=_reason(reason), held_at=None)


def _reason(reason: str) -> str:
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason: it goes into the trail and to the partner."})
    return reason
