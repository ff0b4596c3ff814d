"""Incidents, run by the charter's playbook: a checklist with clocks, automatic steps, escalation, a resolution.

Declaring an incident (an officer does, or an anomaly finding does) copies the playbook of the charter's active
version into steps, each due ``deadline_hours`` after the declaration, and starts two clocks: remediation (the
charter's ``incident_response.remediation_hours``) and notification (the playbook's notify step). A worker then
runs the automatic steps: hold every live grant of the partner (deny-override, so every process denies at its next
decision), place a legal hold on the related records through the trail, and notify by mail through the outbox.
Each automatic step is claimed and done in one transaction, so a redelivered run repeats nothing.

Every minute the scheduled run escalates steps past their deadline to the officers, once each. Closing needs a
resolution note; steps left undone are recorded as such. Closing with release lifts the incident's holds and
resumes the suspensions its anomaly findings made (never an officer's own suspension).

A drill runs the same checklist and clocks, and records what each automatic step would have done instead of
doing it: no grant is held, no evidence bundle is made, and nothing is sent to the partner (the host's own
responders get the notification, marked as a drill). Its timings are kept as evidence of readiness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.operations import Operation, performs, person
from accounts.roles import Role
from audit.dispatch import task_queue
from audit.holds import legal_hold_place
from audit.models import Event
from audit.trail import Actor, record
from charters.models import Charter
from charters.terms import terms_of
from charters.vocabulary import AutomaticStep, Severity
from governance.anomalies.selectors import suspending_finding
from governance.grants import services as grant_services
from governance.incidents.selectors import STALLED, _late, incident_timings
from governance.models import AnomalyFinding, Grant, Incident, IncidentStep
from governance.outbox.services import mail_enqueue, officer_addresses, page_link, partner_admin_addresses

PLAYBOOK = Actor.system("incident-playbook")
SEVERITIES = tuple(Severity.values)


def _label(incident: Incident) -> str:
    return f"{'Drill' if incident.drill else 'Incident'} #{incident.pk}"


def _subject(incident: Incident, text: str) -> str:
    return f"[Accord{' DRILL' if incident.drill else ''}] {_label(incident)}: {text}"


def _open(incident: Incident) -> str:
    """The last line of mail to the host's people: the incident's page (the host's alone)."""
    return f"\nOpen it: {page_link('incident-detail', pk=incident.pk)}\n"


def _queue_run(incident: Incident) -> None:
    from governance.tasks import incident_run  # governance.tasks imports this module

    task_queue(incident_run, [incident.pk])


def _severity(wanted: str, levels: list[str]) -> str:
    """The playbook's level for a finding's severity: the same one, or the nearest above it, or its highest."""
    if not levels or wanted in levels:
        return wanted
    rank = SEVERITIES.index(wanted) if wanted in SEVERITIES else 0
    above = [level for level in levels if level in SEVERITIES and SEVERITIES.index(level) >= rank]
    return min(above, key=SEVERITIES.index) if above else max(levels, key=SEVERITIES.index)


@performs(Operation.INCIDENT_DECLARE)
@transaction.atomic
def incident_declare(
    *,
    charter: Charter,
    title: str,
    severity: str,
    summary: str,
    by: Actor,
    drill: bool = False,
    now: datetime | None = None,
) -> Incident:
    """Open an incident (or a drill) on the charter, with its playbook's steps and clocks, and queue its
    automatic steps for a worker."""
    now = now or timezone.now()
    problems: dict[str, str] = {}
    if not title.strip():
        problems["title"] = "Give the incident a title people will recognise."
    if not summary.strip():
        problems["summary"] = "Say what happened or is suspected: it goes into the evidence."
    version = Charter.objects.select_related("active_version__playbook").get(pk=charter.pk).active_version
    if version is None:
        problems["charter"] = f"Charter {charter.slug} has no approved version, so it has no playbook to run."
    elif version.playbook.severity_levels and severity not in version.playbook.severity_levels:
        levels = ", ".join(version.playbook.severity_levels)
        problems["severity"] = f"Playbook {version.playbook.slug} knows the severities {levels}; choose one of them."
    if problems or version is None:
        raise ValidationError(problems)
    playbook, terms = version.playbook, terms_of(version).incident_response
    incident = Incident.objects.create(
        partner=charter.partner,
        charter=charter,
        playbook=playbook,
        title=title.strip()[:200],
        severity=severity,
        summary=summary.strip(),
        drill=drill,
        declared_by=by.label,
        declared_at=now,
        remediation_due_at=now + timedelta(hours=terms.remediation_hours),
        notify=sorted({*terms.notify, *playbook.notify}),
    )
    IncidentStep.objects.bulk_create(
        IncidentStep(
            incident=incident,
            position=position,
            title=step["title"],
            owner_role=step["owner_role"],
            deadline_hours=step["deadline_hours"],
            automatic=step.get("automatic", ""),
            due_at=now + timedelta(hours=step["deadline_hours"]),
        )
        for position, step in enumerate(playbook.steps, start=1)
    )
    record(
        action="incident.drill_started" if drill else "incident.declared",
        actor=by,
        partner=charter.partner.slug,
        target=incident,
        reason=incident.summary,
        details={
            "charter": charter.slug,
            "playbook": playbook.slug,
            "title": incident.title,
            "severity": severity,
            "drill": drill,
            "remediation_due_at": incident.remediation_due_at,
        },
    )
    mail_enqueue(
        key=f"incident-{incident.pk}-declared",
        to=officer_addresses(),
        subject=_subject(incident, f"{severity} — {incident.title}"),
        body=f"{_label(incident)} was declared by {by.label} on charter {charter.slug} ({charter.partner.name}), "
        f"run by playbook {playbook.slug}.\n\n{incident.summary}\n\nRemediation is due by "
        f"{incident.remediation_due_at:%Y-%m-%d %H:%M} UTC.\n" + _open(incident),
    )
    _queue_run(incident)
    return incident


@performs(Operation.INCIDENT_DECLARE)
def incident_for_finding(*, finding: AnomalyFinding, by: Actor) -> Incident:
    """The incident an anomaly finding opens, in the finding's transaction: the charter's open incident when
    there is one (a burst of findings is one incident), otherwise a new one run by the charter's playbook."""
    grant = finding.grant
    # The charter's row lock makes two findings found at once agree on one incident.
    charter = Charter.objects.select_for_update().get(pk=grant.charter_id)
    incident = Incident.objects.filter(charter=charter, status=Incident.Status.OPEN, drill=False).first()
    if incident is None:
        playbook = charter.active_version.playbook if charter.active_version else None
        incident = incident_declare(
            charter=charter,
            title=f"Anomaly {finding.name} on grant #{grant.pk}",
            severity=_severity(finding.severity, playbook.severity_levels if playbook else []),
            # The finding's own summary names the rule's thresholds, which are the host's: the incident (whose
            # events are in the partner's slice) names the finding, and its page links to it.
            summary=f"Opened by anomaly finding #{finding.pk}: {finding.name} ({finding.severity}).",
            by=by,
            now=finding.created_at,
        )
    AnomalyFinding.objects.filter(pk=finding.pk).update(incident=incident)
    record(
        action="incident.finding_added",
        actor=by,
        partner=charter.partner.slug,
        target=incident,
        details={"finding": finding.pk, "rule": finding.rule, "grant": grant.pk, "severity": finding.severity},
    )
    return incident


# --- The automatic steps --------------------------------------------------------------------------------------


def _hold_grants(incident: Incident, now: datetime) -> dict[str, Any]:
    grants = Grant.objects.select_related("partner", "charter", "asset_version", "principal", "partner_role")
    live = list(grants.filter(partner=incident.partner, status__in=Grant.LIVE, held_at__isnull=True).order_by("id"))
    if incident.drill:
        return {"drill": True, "would_hold": [grant.pk for grant in live]}
    held = []
    for grant in live:
        try:
            grant_services.grant_hold(grant=grant, by=PLAYBOOK, reason=f"{_label(incident)}: {incident.title}")
        except ValidationError:
            continue  # revoked or expired a moment ago: nothing left to hold
        held.append(grant.pk)
    return {"held": held}


def _preserve_evidence(incident: Incident, now: datetime) -> dict[str, Any]:
    since = incident.declared_at - timedelta(days=settings.ACCORD_INCIDENT_EVIDENCE_DAYS)
    if incident.drill:
        events = Event.objects.filter(partner=incident.partner.slug, occurred_at__gte=since).count()
        return {"drill": True, "would_preserve_events_since": since.isoformat(), "events": events}
    records = [
        {
            "type": incident._meta.label_lower,
            "id": incident.pk,
            "data": {
                "title": incident.title,
                "severity": incident.severity,
                "summary": incident.summary,
                "charter": incident.charter.slug,
                "playbook": incident.playbook.slug,
                "declared_by": incident.declared_by,
                "declared_at": incident.declared_at.isoformat(),
            },
        },
        *(
            {"type": finding._meta.label_lower, "id": finding.pk, "data": {"summary": finding.summary}}
            for finding in incident.findings.all()
        ),
    ]
    bundle = legal_hold_place(
        title=f"{_label(incident)}: {incident.title}",
        reason=f"Evidence of {_label(incident).lower()} on charter {incident.charter.slug}",
        records=records,
        by=PLAYBOOK,
        partner=incident.partner.slug,
        since=since,
    )
    Incident.objects.filter(pk=incident.pk).update(evidence=bundle)
    return {"evidence_bundle": bundle.pk, "content_hash": bundle.content_hash, "since": since.isoformat()}


def _notify(incident: Incident, now: datetime) -> dict[str, Any]:
    responders = incident.notify or officer_addresses()
    mail_enqueue(
        key=f"incident-{incident.pk}-notify",
        to=responders,
        subject=_subject(incident, incident.title),
        body=f"{_label(incident)} on charter {incident.charter.slug} ({incident.partner.name}), severity "
        f"{incident.severity}.\n\n{incident.summary}\n\nRemediation is due by "
        f"{incident.remediation_due_at:%Y-%m-%d %H:%M} UTC.\n" + _open(incident),
    )
    partner = partner_admin_addresses(incident.partner)
    if incident.drill:
        return {"drill": True, "told": responders, "partner_not_told": len(partner)}
    mail_enqueue(
        key=f"incident-{incident.pk}-partner",
        to=partner,
        subject=f"[Accord] Your access is on hold: {_label(incident)}",
        body=f"{settings.ACCORD_HOST_ORGANISATION}'s governance team is investigating an incident concerning "
        f"charter {incident.charter.slug} (reference {_label(incident)}). Your organisation's access through Accord "
        "is on hold until the investigation ends; you will be told when it does. Reply to your governance contact "
        "with anything that may help.\n\n"
        # The incident's page is the host's: the partner's admins are sent to their portal's, which shows the steps
        # the playbook gives them.
        f"Open it: {page_link('portal-incidents')}#incident-{incident.pk}\n",
    )
    return {"told": responders, "partner_told": partner}


ACTIONS: dict[str, Callable[[Incident, datetime], dict[str, Any]]] = {
    AutomaticStep.SUSPEND_GRANTS: _hold_grants,
    AutomaticStep.PRESERVE_EVIDENCE: _preserve_evidence,
    AutomaticStep.NOTIFY: _notify,
}


def incident_run(incident_id: int, *, now: datetime | None = None) -> int:
    """Do the incident's automatic steps that are not done yet, in playbook order; how many were done now."""
    now = now or timezone.now()
    done = 0
    incident = Incident.objects.select_related("partner", "charter", "playbook").get(pk=incident_id)
    if incident.status != Incident.Status.OPEN:
        return 0
    for step in incident.steps.filter(status=IncidentStep.Status.PENDING).exclude(automatic="").order_by("position"):
        with transaction.atomic():
            # The claim and the action commit together: a worker killed in between leaves the step to do.
            claimed = IncidentStep.objects.filter(pk=step.pk, status=IncidentStep.Status.PENDING).update(
                status=IncidentStep.Status.DONE, done_at=now, done_by=PLAYBOOK.label
            )
            if not claimed:
                continue
            result = ACTIONS[step.automatic](incident, now)
            IncidentStep.objects.filter(pk=step.pk).update(result=result)
            _record_step(incident, step, PLAYBOOK, now, result=_for_partner_slice(step, result))
            if step.automatic == AutomaticStep.NOTIFY:
                _record_responders(incident, result)
        done += 1
    return done


def _for_partner_slice(step: IncidentStep, result: dict[str, Any]) -> dict[str, Any]:
    """A step's result as the partner's slice of the trail holds it: who inside the host was told is the
    charter's host-only notification list, so the slice counts them (the step's row, and a host-scoped event,
    keep the addresses)."""
    if step.automatic != AutomaticStep.NOTIFY:
        return result
    return {**result, "told": len(result["told"]), "partner_told": len(result.get("partner_told", []))}


def _record_responders(incident: Incident, result: dict[str, Any]) -> None:
    record(
        action="incident.responders_told",
        actor=PLAYBOOK,
        target=incident,
        details={"partner": incident.partner.slug, "told": result["told"], "drill": incident.drill},
    )


def _record_step(
    incident: Incident, step: IncidentStep, by: Actor, now: datetime, *, note: str = "", result: Any = None
) -> None:
    record(
        action="incident.step_done",
        actor=by,
        partner=incident.partner.slug,
        target=incident,
        reason=note,
        details={
            "step": step.position,
            "title": step.title,
            "automatic": step.automatic or None,
            "late": _late(step, now),
            "seconds_after_declaration": round((now - incident.declared_at).total_seconds()),
            "drill": incident.drill,
            "result": result,
        },
    )


# --- People's part --------------------------------------------------------------------------------------------


@performs(Operation.INCIDENT_RUN)
@transaction.atomic
def incident_step_complete(*, step: IncidentStep, by: Actor, note: str, now: datetime | None = None) -> IncidentStep:
    """An officer ticks a step off. A step owned by someone else (the partner admin, an auditor) needs a note
    saying how it was confirmed."""
    now = now or timezone.now()
    incident = Incident.objects.select_related("partner").get(pk=step.incident_id)
    if incident.status != Incident.Status.OPEN:
        raise ValidationError({"step": f"{_label(incident)} is closed; its checklist no longer changes."})
    if step.automatic:
        raise ValidationError(
            {"step": f"Step {step.position} runs by itself on a worker; if it is overdue, the worker's log says why."}
        )
    if step.owner_role != Role.OFFICER and not note.strip():
        raise ValidationError(
            {"note": f"This step belongs to the {step.owner_role.replace('_', ' ')}: say how they confirmed it."}
        )
    return _step_done(incident, step, by, note, now)


@performs(Operation.INCIDENT_STEP_ANSWER)
@transaction.atomic
def incident_step_answer(*, step: IncidentStep, by: Actor, note: str, now: datetime | None = None) -> IncidentStep:
    """A partner's admin answers a step of their partner's incident that the playbook gives the partner admin, saying
    what they did. Drills are the host's alone: a partner is never told of one."""
    now = now or timezone.now()
    admin = person(by)
    incident = Incident.objects.select_related("partner").get(pk=step.incident_id)
    if incident.partner_id != admin.organisation_id or incident.drill:
        raise PermissionDenied("Only the partner's own admins answer its incident steps.")
    if step.owner_role != Role.PARTNER_ADMIN:
        raise ValidationError({"step": f"Step {step.position} is the host's to do, not yours."})
    if incident.status != Incident.Status.OPEN:
        raise ValidationError({"step": f"Incident #{incident.pk} is closed; its checklist no longer changes."})
    if not note.strip():
        raise ValidationError({"note": "Say what your organisation did for this step: the host's officers read it."})
    return _step_done(incident, step, by, note, now)


def _step_done(incident: Incident, step: IncidentStep, by: Actor, note: str, now: datetime) -> IncidentStep:
    claimed = IncidentStep.objects.filter(pk=step.pk, status=IncidentStep.Status.PENDING).update(
        status=IncidentStep.Status.DONE, done_at=now, done_by=by.label, note=note.strip()
    )
    step.refresh_from_db()
    if not claimed:
        raise ValidationError({"step": f"Step {step.position} was already done by {step.done_by}."})
    _record_step(incident, step, by, now, note=note.strip())
    return step


@performs(Operation.INCIDENT_RUN)
@transaction.atomic
def incident_close(
    *, incident: Incident, by: Actor, resolution: str, release_holds: bool = False, now: datetime | None = None
) -> Incident:
    """Close with a resolution note. Steps not done are marked so. Only when the officer says so, the grants the
    incident held are released and those its findings suspended are resumed (access comes back by decision, not
    by default); a suspension an officer made stays."""
    now = now or timezone.now()
    if len(resolution.strip()) < 10:
        raise ValidationError(
            {"resolution": "Write the resolution: what happened, what was done about it, and what changes now."}
        )
    if release_holds and not incident.drill:
        other = (
            Incident.objects.filter(partner_id=incident.partner_id, status=Incident.Status.OPEN, drill=False)
            .exclude(pk=incident.pk)
            .first()
        )
        if other is not None:
            message = (
                f"Incident #{other.pk} on the same partner is still open and may still need its grants held or "
                "suspended: close this one without releasing, or close that one first."
            )
            raise ValidationError({"release_holds": message})
    claimed = Incident.objects.filter(pk=incident.pk, status=Incident.Status.OPEN).update(
        status=Incident.Status.CLOSED, resolution=resolution.strip(), closed_by=by.label, closed_at=now
    )
    incident.refresh_from_db()
    if not claimed:
        raise ValidationError({"incident": f"{_label(incident)} was already closed by {incident.closed_by}."})
    not_done = list(
        incident.steps.filter(status=IncidentStep.Status.PENDING)
        .order_by("position")
        .values_list("position", flat=True)
    )
    incident.steps.filter(status=IncidentStep.Status.PENDING).update(status=IncidentStep.Status.NOT_DONE)
    released, resumed = _release(incident, by) if release_holds and not incident.drill else ([], [])
    timings = incident_timings(incident, now=now)
    record(
        action="incident.drill_finished" if incident.drill else "incident.closed",
        actor=by,
        partner=incident.partner.slug,
        target=incident,
        reason=incident.resolution,
        details={
            "steps_not_done": not_done,
            "steps_late": [row.position for row in timings.steps if row.late],
            "released": released,
            "resumed": resumed,
            "drill": incident.drill,
            "minutes_open": round((now - incident.declared_at).total_seconds() / 60),
        },
    )
    return incident


def _release(incident: Incident, by: Actor) -> tuple[list[int], list[int]]:
    """Release the grants the incident held, and resume those its findings suspended: the ids of each."""
    reason = f"{_label(incident)} closed: {incident.resolution}"
    held: list[int] = []
    for step in incident.steps.filter(automatic=AutomaticStep.SUSPEND_GRANTS):
        held += step.result.get("held", [])
    released = []
    grants = Grant.objects.select_related("partner", "charter", "asset_version", "principal", "partner_role")
    for grant in grants.filter(pk__in=held, status__in=Grant.LIVE, held_at__isnull=False).order_by("id"):
        grant_services.grant_release(grant=grant, by=by, reason=reason)
        released.append(grant.pk)
    resumed = []
    found = incident.findings.values("grant_id")
    for grant in grants.filter(pk__in=found, status=Grant.Status.SUSPENDED).order_by("id"):
        finding = suspending_finding(grant.pk)
        if finding is None or finding.incident_id != incident.pk:
            continue  # an officer suspended it, or another incident's finding did: not this incident's to lift
        grant_services.grant_resume(grant=grant, by=by, reason=reason)
        resumed.append(grant.pk)
    return released, resumed


# --- Clocks and escalation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentsRun:
    escalated: int
    resumed: int


def incidents_run(*, now: datetime | None = None) -> IncidentsRun:
    """Scheduled every minute: escalate each overdue step once, and finish automatic steps a lost message left."""
    now = now or timezone.now()
    escalated = 0
    overdue = (
        IncidentStep.objects.select_related("incident__partner", "incident__charter")
        .filter(
            incident__status=Incident.Status.OPEN,
            status=IncidentStep.Status.PENDING,
            due_at__lt=now,
            escalated_at__isnull=True,
        )
        # A worker has a new incident's automatic steps in hand (an immediate one is due at once); they are
        # overdue only once STALLED has passed and this run has to do them itself.
        .exclude(Q(incident__declared_at__gte=now - STALLED) & ~Q(automatic=""))
    )
    for step in overdue.order_by("due_at", "id"):
        with transaction.atomic():
            if not IncidentStep.objects.filter(pk=step.pk, escalated_at__isnull=True).update(escalated_at=now):
                continue
            incident = step.incident
            record(
                action="incident.step_overdue",
                actor=PLAYBOOK,
                partner=incident.partner.slug,
                target=incident,
                details={"step": step.position, "title": step.title, "due_at": step.due_at, "drill": incident.drill},
            )
            mail_enqueue(
                key=f"incident-{incident.pk}-step-{step.position}-overdue",
                to=officer_addresses(),
                subject=_subject(incident, f"step {step.position} is overdue"),
                body=f'Step {step.position} of {_label(incident).lower()} ({incident.title}), "{step.title}", '
                f"owned by the {step.owner_role.replace('_', ' ')}, was due at {step.due_at:%Y-%m-%d %H:%M} UTC "
                "and is not done.\n" + _open(incident),
            )
        escalated += 1
    stalled = (
        IncidentStep.objects.filter(
            incident__status=Incident.Status.OPEN,
            status=IncidentStep.Status.PENDING,
            incident__declared_at__lt=now - STALLED,
        )
        .exclude(automatic="")
        .values_list("incident_id", flat=True)
        .distinct()
    )
    resumed = sum(1 for incident_id in list(stalled) if incident_run(incident_id, now=now))
    return IncidentsRun(escalated, resumed)
