"""Exits: the end of a charter's collaboration, run by its exit plan until there is a report to show for it.

Starting an exit terminates the charter and queues the run. The run, on a worker:
1. revokes every grant under the charter, each in its own transaction behind the grant's status compare-and-swap;
2. when no other charter of the partner is live, revokes every token of the partner except the partner admins',
   which are narrowed to what the exit still needs (reading it, attesting destruction) until it closes;
3. disposes of each line of the plan: ``destroy`` schedules the destruction of the partner's deliveries of that
   asset version (and of the asset version's own files when the partner owns it) after any retention period and
   the grace period; ``retain`` keeps them (destroying them once the retention period ends, when it has one);
   ``migrate`` waits for an officer to confirm the hand-over;
4. asks the partner admins to attest that the partner destroyed its copies.

Each step is claimed before it is done, so a run redelivered after a worker died picks up where it stopped and
repeats nothing. The exit keeps the links from its lines to the keys they scheduled (the vault knows nothing of
exits) and settles a line itself from its keys' state: destroyed once every key is, kept once a destruction was
cancelled and none is left on its way. The exit closes by itself once every line is settled, every scheduled
destruction has its certificate and (when the plan asks for one) the attestation is in: the report is written,
the narrowed tokens are revoked, and everyone concerned is told.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Partner, Proposal, User
from accounts.operations import Operation, performs, person
from accounts.proposals import Done, Plan, ProposalKind
from accounts.roles import Role
from accounts.scopes import Scope
from accounts.services import api_token_narrow, api_token_revoke, partner_access_end
from audit import chain
from audit.dispatch import task_queue
from audit.trail import Actor, record
from charters.models import AssetVersion, Charter
from charters.services.charters import charter_terminate
from charters.terms import terms_of
from charters.vocabulary import Disposition
from governance.exits.selectors import (
    attestation_wanted,
    destroyed_fingerprints,
    exit_blockers,
    exit_item_of_key,
    exit_report,
)
from governance.grants import services as grant_services
from governance.models import DataKey, Exit, ExitAttestation, ExitItem, ExitItemKey, Grant
from governance.outbox.services import mail_enqueue, officer_addresses, page_link, partner_admin_addresses
from governance.vault.destruction import DESTROYER, destruction_cancel, destruction_schedule

logger = logging.getLogger(__name__)
EXITS = Actor.system("exit")
# A started exit is queued at once; the scheduled run resumes one that a lost message left behind after this.
STALLED = timedelta(minutes=1)
REVOCABLE = (Grant.Status.REQUESTED, *Grant.LIVE)
OUTPUTS = {"host": "retain", "joint": "retain", "partner": "migrate"}


@dataclass(frozen=True)
class PlannedItem:
    subject: str
    disposition: str
    retention_days: int | None
    asset_version: AssetVersion | None
    held: int  # how many data keys the store holds for it now
    outputs: bool = False

    @property
    def fingerprint(self) -> str | None:
        return self.asset_version.fingerprint if self.asset_version else None


def _keys_for(partner: Partner, asset_version: AssetVersion | None, *, outputs: bool = False) -> QuerySet[DataKey]:
    """The data keys a plan line disposes of: the partner's deliveries of the asset version (or, for the outputs
    line, of no asset version), and the asset version's own files when the asset is the partner's."""
    if outputs:
        keys = Q(scope=DataKey.Scope.DELIVERY, partner=partner, asset_version__isnull=True)
    elif asset_version is None:
        return DataKey.objects.none()  # a plan line naming an asset version nobody has
    else:
        keys = Q(scope=DataKey.Scope.DELIVERY, partner=partner, asset_version=asset_version)
        if asset_version.asset.owner_id == partner.pk:
            keys |= Q(scope=DataKey.Scope.ASSET_VERSION, asset_version=asset_version)
    return DataKey.objects.filter(keys, status=DataKey.Status.ACTIVE)


def _used_elsewhere(exit_: Exit) -> dict[int | None, str]:
    """What the partner's other live charters still use, by asset version id (None: the outputs), with the
    charter's slug: an exit that does not end the partner's access leaves it to that charter's own exit."""
    others = Charter.objects.filter(
        partner=exit_.partner, status__in=(Charter.Status.ACTIVE, Charter.Status.SUSPENDED)
    ).exclude(pk=exit_.charter_id)
    used: dict[int | None, str] = {}
    for charter in others.select_related("active_version"):
        used.setdefault(None, charter.slug)
        shared = terms_of(charter.active_version).shared if charter.active_version else ()
        for entry in shared:
            versions = AssetVersion.objects.filter(asset__name=entry.asset, label=entry.version)
            for pk in versions.values_list("pk", flat=True):
                used.setdefault(pk, charter.slug)
        for pk in Grant.objects.filter(charter=charter, status__in=REVOCABLE).values_list(
            "asset_version_id", flat=True
        ):
            used.setdefault(pk, charter.slug)
    return used


def _held_versions(charter: Charter) -> QuerySet[AssetVersion]:
    """What the partner held under this charter: versions it had grants for, was delivered, or owns."""
    partner = charter.partner
    return (
        AssetVersion.objects.select_related("asset")
        .filter(Q(grants__charter=charter) | Q(data_keys__partner=partner) | Q(asset__owner=partner))
        .distinct()
        .order_by("asset__name", "label")
    )


def exit_plan_resolve(charter: Charter) -> list[PlannedItem]:
    """The charter's exit plan, line by line, resolved to the asset versions it covers: what starting the exit
    will do, shown to the officer before they confirm."""
    version = charter.active_version
    if version is None or not hasattr(version, "exit_plan"):
        raise ValidationError({"charter": f"Charter {charter.slug} has no approved version, so no exit plan to run."})
    plan = version.exit_plan
    held = list(_held_versions(charter))
    named = {}
    for line in plan.items:
        if "asset" in line:
            # Among what the partner held, else among the host's and the partner's own assets: names are unique
            # per owner only, and another partner's asset is never part of this exit.
            match = (
                next((av for av in held if av.asset.name == line["asset"] and av.label == line["version"]), None)
                or AssetVersion.objects.select_related("asset")
                .filter(Q(asset__owner__kind="host") | Q(asset__owner=charter.partner))
                .filter(asset__name=line["asset"], label=line["version"])
                .first()
            )
            named[(line["asset"], line["version"])] = (line, match)
    planned: list[PlannedItem] = []
    for line, match in named.values():
        subject = f"{line['asset']} {line['version']}"
        planned.append(_planned(charter.partner, subject, line, match))
    covered = {match.pk for _, match in named.values() if match is not None}
    for line in plan.items:
        if "asset_kind" not in line:
            continue
        for asset_version in held:
            if asset_version.asset.kind == line["asset_kind"] and asset_version.pk not in covered:
                covered.add(asset_version.pk)
                subject = f"{asset_version.asset.name} {asset_version.label} (every {line['asset_kind']})"
                planned.append(_planned(charter.partner, subject, line, asset_version))
    held_outputs = _keys_for(charter.partner, None, outputs=True).count()
    subject = f"Outputs produced for {charter.partner.name}"
    planned.append(PlannedItem(subject, OUTPUTS[plan.outputs_owner], None, None, held_outputs, outputs=True))
    return planned


def _plan_document(charter: Charter) -> dict[str, object]:
    if charter.active_version is None:
        raise ValidationError({"charter": f"Charter {charter.slug} has no approved version, so no exit plan to run."})
    return charter.active_version.exit_plan.as_document()


def _planned(partner: Partner, subject: str, line: dict[str, Any], asset_version: AssetVersion | None) -> PlannedItem:
    held = _keys_for(partner, asset_version).count()
    return PlannedItem(subject, line["disposition"], line.get("retention_days"), asset_version, held)


def _queue_run(exit_: Exit) -> None:
    from governance.tasks import exit_run  # governance.tasks imports this module

    task_queue(exit_run, [exit_.pk])


def _refuse_without_reason(reason: str) -> None:
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason the collaboration ends: it goes to the partner."})


@dataclass(frozen=True)
class CharterEnded:
    charter: Charter
    exit: Exit | None  # None for a charter that never ran: no grant, no key, nothing to dispose of


@performs(Operation.CHARTER_END)
@transaction.atomic
def charter_end(*, charter: Charter, by: Actor, reason: str) -> CharterEnded:
    """The one way a charter ends early. One that ever ran ends by its exit plan (``exit_start``; its run on a
    worker revokes the grants, then dispositions, attestation, report: from the commit on, every decision under the
    charter is denied); a draft or one still in review, which cannot have grants, is terminated at once and its
    open version withdrawn."""
    if charter.active_version_id is not None:
        exit_ = exit_start(charter=charter, by=by, reason=reason)
        return CharterEnded(charter=exit_.charter, exit=exit_)
    _refuse_without_reason(reason)
    ended = charter_terminate(charter=charter, by=EXITS, reason=f"Ended by {by.label}: {reason.strip()}")
    return CharterEnded(charter=ended, exit=None)


@performs(Operation.EXIT_START)
@transaction.atomic
def exit_start(*, charter: Charter, by: Actor, reason: str, now: datetime | None = None) -> Exit:
    """Terminate the charter (if it still runs) and start its exit plan; the revocations run on a worker."""
    now = now or timezone.now()
    _refuse_without_reason(reason)
    # The partner's row first: two of its charters ending at once must agree on which exit ends its access.
    Partner.objects.select_for_update().get(pk=charter.partner_id)
    charter = (
        Charter.objects.select_for_update(of=("self",))
        .select_related("partner", "active_version__exit_plan")
        .get(pk=charter.pk)
    )
    existing = Exit.objects.filter(charter=charter).first()
    if existing is not None:
        raise ValidationError({"charter": f"Charter {charter.slug}'s exit began on {existing.started_at:%Y-%m-%d}."})
    planned = exit_plan_resolve(charter)
    if charter.status not in (Charter.Status.TERMINATED, Charter.Status.EXPIRED):
        charter = charter_terminate(charter=charter, by=EXITS, reason=reason)
    others = Charter.objects.filter(
        partner=charter.partner, status__in=(Charter.Status.ACTIVE, Charter.Status.SUSPENDED)
    )
    exit_ = Exit.objects.create(
        charter=charter,
        partner=charter.partner,
        plan=_plan_document(charter),
        reason=reason.strip(),
        started_by=by.label,
        started_at=now,
        ends_partner_access=not others.exclude(pk=charter.pk).exists(),
    )
    if exit_.ends_partner_access:
        # From now on the partner's people reach only the exit, whatever they authenticate with; their tokens are
        # revoked or narrowed by the run.
        partner_access_end(partner=charter.partner, by=EXITS, reason=f"Exit of charter {charter.slug}: {reason}")
    ExitItem.objects.bulk_create(
        ExitItem(
            exit=exit_,
            asset_version=item.asset_version,
            subject=item.subject[:300],
            outputs=item.outputs,
            disposition=item.disposition,
            retention_days=item.retention_days,
        )
        for item in planned
    )
    record(
        action="exit.started",
        actor=by,
        partner=charter.partner.slug,
        target=exit_,
        reason=exit_.reason,
        details={
            "charter": charter.slug,
            "items": [{"subject": item.subject, "disposition": item.disposition} for item in planned],
            "ends_partner_access": exit_.ends_partner_access,
        },
    )
    _queue_run(exit_)
    return exit_


def exit_run(exit_id: int, *, now: datetime | None = None) -> Exit:
    """Carry the exit as far as it goes now. Safe to run again at any point: every step is claimed first."""
    now = now or timezone.now()
    exit_ = Exit.objects.select_related("charter", "partner").get(pk=exit_id)
    if exit_.status == Exit.Status.REVOKING:
        _revoke_grants(exit_)
        if exit_.ends_partner_access:
            _revoke_tokens(exit_)
        used = {} if exit_.ends_partner_access else _used_elsewhere(exit_)
        for item in exit_.items.filter(status=ExitItem.Status.PENDING).select_related("asset_version__asset"):
            _dispose(exit_, item, now, used)
        _revocations_done(exit_, now)
    exit_close_if_done(exit_, now=now)
    exit_.refresh_from_db()
    return exit_


def _why(exit_: Exit) -> str:
    return f"Exit of charter {exit_.charter.slug}: {exit_.reason}"


def _revoke_grants(exit_: Exit) -> None:
    grants = Grant.objects.select_related("partner", "charter", "asset_version", "principal", "partner_role")
    for grant in grants.filter(charter=exit_.charter, status__in=REVOCABLE).order_by("id").iterator():
        try:
            grant_services.grant_revoke(grant=grant, by=EXITS, reason=_why(exit_))
        except ValidationError:
            continue  # revoked, expired or refused a moment ago, by someone else or by this run's last life


def _revoke_tokens(exit_: Exit) -> None:
    tokens = ApiToken.objects.select_related("user__organisation").filter(
        user__organisation=exit_.partner, revoked_at__isnull=True
    )
    admins = set(
        User.objects.filter(organisation=exit_.partner, groups__name=Role.PARTNER_ADMIN).values_list("pk", flat=True)
    )
    for token in tokens.order_by("id"):
        if token.user_id in admins:
            api_token_narrow(token=token, by=EXITS, reason=_why(exit_))
        else:
            api_token_revoke(token=token, by=EXITS)


def _dispose(exit_: Exit, item: ExitItem, now: datetime, used: dict[int | None, str]) -> None:
    with transaction.atomic():
        item = ExitItem.objects.select_for_update(of=("self",)).select_related("asset_version__asset").get(pk=item.pk)
        if item.status != ExitItem.Status.PENDING:
            return
        keys = list(_keys_for(exit_.partner, item.asset_version, outputs=item.outputs))
        retention = timedelta(days=item.retention_days or 0)
        elsewhere = None if exit_.ends_partner_access else used.get(None if item.outputs else item.asset_version_id)
        if elsewhere is not None:
            item.status = ExitItem.Status.RETAINED
            item.note = f"Still used under charter {elsewhere}: kept; that charter's exit disposes of it."
            keys = []
        elif item.disposition == Disposition.DESTROY:
            item.status = ExitItem.Status.SCHEDULED if keys else ExitItem.Status.NOTHING_HELD
            for key in keys:
                destruction_schedule(
                    data_key=key,
                    by=EXITS,
                    reason=f"{_why(exit_)} (the plan destroys {item.subject})",
                    not_before=now + retention,
                )
                _key_link(item, key)
        else:
            # retain and migrate: the host's copies stay for the retention period when the plan gives one (the
            # time to hand them over, for a migration), and are then destroyed like any other.
            item.status = (
                ExitItem.Status.RETAINED
                if item.disposition == Disposition.RETAIN
                else ExitItem.Status.AWAITING_MIGRATION
            )
            if item.retention_days is not None:
                for key in keys:
                    destruction_schedule(
                        data_key=key,
                        by=EXITS,
                        reason=f"{_why(exit_)} (kept {item.retention_days} days)",
                        not_before=now + retention,
                    )
                    _key_link(item, key)
                item.note = f"Kept for {item.retention_days} days, then destroyed after the grace period."
            elif item.disposition == Disposition.RETAIN:
                item.note = "Kept, as the plan says."
        item.save(update_fields=["status", "note"])
        record(
            action="exit.item_started",
            actor=EXITS,
            partner=exit_.partner.slug,
            target=exit_,
            details={"item": item.pk, "subject": item.subject, "status": item.status, "keys": len(keys)},
        )


def _key_link(item: ExitItem, key: DataKey) -> None:
    # A key another exit's line scheduled, and whose destruction was cancelled, moves to this line.
    ExitItemKey.objects.update_or_create(data_key=key, defaults={"item": item})


def _item_settle(item_id: int) -> None:
    """A line that scheduled destructions is settled once none of its keys is still on its way to destruction:
    destroyed when every key is, kept when some destruction was cancelled (a deviation the line's note says). Who
    settled it and when is the last of these: the destruction run at the last key's erase, unless an officer's
    cancellation came after it (exit_destruction_cancel has written that on the line already)."""
    item = ExitItem.objects.get(pk=item_id)
    keys = list(item.keys.values_list("status", "destroyed_at"))
    statuses = {status for status, _ in keys}
    if not keys or DataKey.Status.PENDING_DESTRUCTION in statuses:
        return
    kept = DataKey.Status.ACTIVE in statuses
    last_erased = max((at for status, at in keys if status == DataKey.Status.DESTROYED and at), default=None)
    done_by, done_at = item.done_by, item.done_at
    if last_erased is not None and (done_at is None or last_erased >= done_at):
        done_by, done_at = DESTROYER.label, last_erased
    # Another run, or the officer cancelling the line's last key, may have settled it a moment ago.
    ExitItem.objects.filter(pk=item.pk, status=ExitItem.Status.SCHEDULED).update(
        status=ExitItem.Status.KEPT if kept else ExitItem.Status.DESTROYED, done_by=done_by, done_at=done_at
    )


def _revocations_done(exit_: Exit, now: datetime) -> None:
    with transaction.atomic():
        if not Exit.objects.filter(pk=exit_.pk, status=Exit.Status.REVOKING).update(
            status=Exit.Status.WINDING_DOWN, revocations_done_at=now
        ):
            return
        exit_.refresh_from_db()
        record(
            action="exit.revocations_done",
            actor=EXITS,
            partner=exit_.partner.slug,
            target=exit_,
            details={
                "grants_revoked": Grant.objects.filter(charter=exit_.charter, status=Grant.Status.REVOKED).count(),
                "tokens_revoked": ApiToken.objects.filter(
                    user__organisation=exit_.partner, revoked_at__isnull=False
                ).count(),
                "tokens_narrowed": ApiToken.objects.filter(
                    user__organisation=exit_.partner, revoked_at__isnull=True, scopes=Scope.EXIT
                ).count(),
            },
        )
        if attestation_wanted(exit_):
            mail_enqueue(
                key=f"exit-{exit_.pk}-attestation",
                to=partner_admin_addresses(exit_.partner),
                subject=f"[Accord] Charter {exit_.charter.slug} has ended: please attest destruction",
                body=f"The collaboration under charter {exit_.charter.slug} has ended ({exit_.reason}).\n\n"
                "Your access is revoked. Your partner admin tokens still reach the exit: read it at "
                f"GET /api/v1/exits/{exit_.pk} and, once your organisation has destroyed its copies of what the "
                f"exit plan destroys, attest it with POST /api/v1/exits/{exit_.pk}/attestation.\n\n"
                f"Open it: {page_link('exit-detail', pk=exit_.pk)}\n",
            )


# --- People's part --------------------------------------------------------------------------------------------


@performs(Operation.EXIT_ATTEST)
@transaction.atomic
def exit_attest(*, exit_: Exit, statement: str, method: str, destroyed: list[str], by: Actor) -> ExitAttestation:
    """The partner admin attests that the partner destroyed its copies of every asset version the plan destroys."""
    admin = person(by)
    exit_ = Exit.objects.select_for_update().select_related("partner", "charter").get(pk=exit_.pk)
    if admin.organisation_id != exit_.partner_id:
        raise PermissionDenied("Only the partner's own admins attest its destruction.")
    if exit_.status == Exit.Status.CLOSED:
        raise ValidationError({"exit": f"This exit closed on {exit_.closed_at:%Y-%m-%d}; nothing more is needed."})
    existing = ExitAttestation.objects.filter(exit=exit_).select_related("partner_admin").first()
    if existing is not None:
        raise ValidationError(
            {"exit": f"{existing.partner_admin.username} attested on {existing.attested_at:%Y-%m-%d %H:%M} UTC."}
        )
    required = set(destroyed_fingerprints(exit_))
    given = {fingerprint.strip().lower() for fingerprint in destroyed}
    problems: dict[str, str] = {}
    if len(statement.strip()) < 20:
        problems["statement"] = "Say, in a sentence or more, what your organisation destroyed and how it checked."
    if not method.strip():
        problems["method"] = "Name the method, e.g. 'cryptographic erase' or 'overwrite (NIST SP 800-88 clear)'."
    if missing := sorted(required - given):
        problems["destroyed"] = f"Attest every asset version the plan destroys; missing: {', '.join(missing)}."
    elif unknown := sorted(given - required):
        problems["destroyed"] = f"The plan does not destroy {', '.join(unknown)}; attest only {', '.join(required)}."
    if problems:
        raise ValidationError(problems)
    attestation = ExitAttestation.objects.create(
        exit=exit_, partner_admin=admin, statement=statement.strip(), method=method.strip(), destroyed=sorted(given)
    )
    record(
        action="exit.destruction_attested",
        actor=by,
        partner=exit_.partner.slug,
        target=exit_,
        details={"destroyed": attestation.destroyed, "method": attestation.method},
    )
    exit_close_if_done(exit_)
    return attestation


@performs(Operation.KEY_DESTROY)
@transaction.atomic
def exit_destruction_cancel(
    *, data_key: DataKey, by: Actor, reason: str, now: datetime | None = None
) -> ExitItem | None:
    """Cancel a key's destruction within its grace period (the vault's destruction_cancel) and, when an exit's line
    scheduled it, write who kept it and why on the line, and settle the line as kept once none of its keys is left
    on its way to destruction. Pages and the CLI cancel through here, so the line shows it at once. The line, or
    None when no exit scheduled the key."""
    now = now or timezone.now()
    destruction_cancel(data_key=data_key, by=by, reason=reason, now=now)
    item = exit_item_of_key(data_key)
    if item is None:
        return None
    ExitItem.objects.filter(pk=item.pk, status=ExitItem.Status.SCHEDULED).update(
        note=f"Destruction cancelled by {by.label}: {reason}", done_by=by.label, done_at=now
    )
    _item_settle(item.pk)
    item.refresh_from_db()
    return item


@performs(Operation.EXIT_CONFIRM)
@transaction.atomic
def exit_migration_confirm(*, item: ExitItem, by: Actor, note: str, now: datetime | None = None) -> ExitItem:
    """An officer confirms the hand-over of a migrate line."""
    now = now or timezone.now()
    if not note.strip():
        raise ValidationError({"note": "Say where it went and how the hand-over was confirmed."})
    claimed = ExitItem.objects.filter(pk=item.pk, status=ExitItem.Status.AWAITING_MIGRATION).update(
        status=ExitItem.Status.MIGRATED, note=note.strip(), done_by=by.label, done_at=now
    )
    item.refresh_from_db()
    if not claimed:
        raise ValidationError(
            {"item": f"{item.subject} is {item.get_status_display().lower()}, not awaiting migration."}
        )
    exit_ = Exit.objects.select_related("partner", "charter").get(pk=item.exit_id)
    record(
        action="exit.item_migrated",
        actor=by,
        partner=exit_.partner.slug,
        target=exit_,
        reason=item.note,
        details={"item": item.pk, "subject": item.subject},
    )
    exit_close_if_done(exit_, now=now)
    return item


# --- Closing ------------------------------------------------------------------------------------------------------


def exit_close_if_done(exit_: Exit, *, now: datetime | None = None) -> bool:
    """Close the exit when nothing is left to wait for; True when this call closed it."""
    now = now or timezone.now()
    with transaction.atomic():
        exit_ = Exit.objects.select_for_update().select_related("partner", "charter").get(pk=exit_.pk)
        if exit_.status != Exit.Status.WINDING_DOWN:
            return False
        # The destruction run erases keys without knowing whose they are: their lines are settled here.
        for item_id in exit_.items.filter(status=ExitItem.Status.SCHEDULED).values_list("pk", flat=True):
            _item_settle(item_id)
        if exit_blockers(exit_):
            return False
        report = exit_report(exit_, closed_at=now)
        Exit.objects.filter(pk=exit_.pk).update(status=Exit.Status.CLOSED, closed_at=now, report=report)
        exit_.refresh_from_db()
        narrowed = ApiToken.objects.filter(user__organisation=exit_.partner, revoked_at__isnull=True, scopes=Scope.EXIT)
        still_open = Exit.objects.filter(partner=exit_.partner).exclude(status=Exit.Status.CLOSED).exists()
        for token in [] if still_open else narrowed.select_related("user__organisation"):
            api_token_revoke(token=token, by=EXITS)
        record(
            action="exit.closed",
            actor=EXITS,
            partner=exit_.partner.slug,
            target=exit_,
            details={
                "report_sha256": hashlib.sha256(chain.canonical(report)).hexdigest(),
                "certificates": [row["number"] for row in report["certificates"]],
            },
        )
        mail_enqueue(
            key=f"exit-{exit_.pk}-closed",
            to=[*officer_addresses(), *partner_admin_addresses(exit_.partner)],
            subject=f"[Accord] The exit of charter {exit_.charter.slug} is complete",
            body=f"Every line of the exit plan of {exit_.charter.slug} is settled and its report is written. "
            f"Certificates of destruction: {len(report['certificates'])}.\n\n"
            # The exit's page is for the host's people and the partner's admins alike.
            f"Open it: {page_link('exit-detail', pk=exit_.pk)}\n",
        )
    return True


def exits_tick(*, now: datetime | None = None) -> int:
    """Scheduled every minute: resume exits a lost message left in revocation, close those that are done. One
    exit's failure is logged and the others go on."""
    now = now or timezone.now()
    moved = 0
    stalled = Exit.objects.filter(status=Exit.Status.REVOKING, started_at__lt=now - STALLED)
    waiting = Exit.objects.filter(status=Exit.Status.WINDING_DOWN)
    for exit_id in [*stalled.values_list("pk", flat=True), *waiting.values_list("pk", flat=True)]:
        try:
            moved += exit_run(exit_id, now=now).status == Exit.Status.CLOSED
        except Exception:  # the next run tries again; the other exits must not wait for this one
            logger.exception("Exit #%s could not go on; it is tried again at the next run.", exit_id)
    return moved


# Ending a charter takes two officers (accounts.proposals): what confirming will do, and doing it.
def _charter_end_plan(target: str, proposer: User) -> Plan:
    charter = Charter.objects.select_related("partner", "active_version").filter(slug=target).first()
    if charter is None:
        raise ValidationError({"target": f"There is no charter {target!r}: name it by its slug."})
    if Exit.objects.filter(charter=charter).exists():
        raise ValidationError({"target": f"Charter {charter.slug}'s exit has already begun."})
    label = f"{charter.slug} ({charter.partner.name})"
    if charter.active_version_id is None:
        if charter.status == Charter.Status.TERMINATED:
            raise ValidationError({"target": f"Charter {charter.slug} is already terminated."})
        lines = [f"Charter {charter.slug} never ran: it is terminated at once and its open version withdrawn."]
        return Plan(target_label=label, partner=charter.partner.slug, lines=lines)
    live = Grant.objects.filter(charter=charter, status__in=REVOCABLE).count()
    lines = [
        f"Charter {charter.slug} is terminated: from the confirmation on, every decision under it is denied.",
        f"Its {live} grant{'s' if live != 1 else ''} still live or requested {'are' if live != 1 else 'is'} revoked "
        "by the exit's run.",
    ]
    others = Charter.objects.filter(
        partner=charter.partner, status__in=(Charter.Status.ACTIVE, Charter.Status.SUSPENDED)
    )
    if not others.exclude(pk=charter.pk).exists():
        lines.append(
            f"It is {charter.partner.name}'s last running charter: their access ends, their principals' tokens are "
            "revoked and their admins' narrowed to the exit."
        )
    for item in exit_plan_resolve(charter):
        kept = f", kept {item.retention_days} days first" if item.retention_days else ""
        lines.append(f"{item.subject}: {item.disposition}{kept} ({item.held} data key{'s' if item.held != 1 else ''}).")
    return Plan(target_label=label, partner=charter.partner.slug, lines=lines)


def _charter_end_carry_out(proposal: Proposal, by: Actor) -> Done:
    charter = Charter.objects.get(slug=proposal.target)
    ended = charter_end(charter=charter, by=by, reason=proposal.reason)
    if ended.exit is None:
        return Done(
            f"Charter {charter.slug} is terminated; it had no grants.",
            reverse("charters:charter-detail", kwargs={"slug": charter.slug}),
        )
    return Done(
        f"Charter {charter.slug} is terminated and its exit has started.",
        reverse("exit-detail", kwargs={"pk": ended.exit.pk}),
    )


CHARTER_END_PROPOSAL = ProposalKind(
    kind=Proposal.Kind.CHARTER_END,
    operation=Operation.CHARTER_END,
    plan=_charter_end_plan,
    carry_out=_charter_end_carry_out,
    target_hint="the charter's slug",
)
