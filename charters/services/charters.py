"""The charter lifecycle: documents in, versions through review and approval, partners' acknowledgements.

Every transition is one function here, shared by the web UI, the API, the CLI and (later) the Celery tasks;
each runs in a transaction, claims its row with a compare-and-swap on the old state, and records its event.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organisation, Partner, User
from accounts.operations import Operation, performs, person
from accounts.services import partner_access_restore
from audit.trail import Actor, record
from charters import documents, guardrails
from charters.documents import CharterDocumentError, Parsed, Problem
from charters.models import Charter, CharterAcknowledgement, CharterVersion, ExitPlan, IncidentPlaybook
from charters.services.policy_feed import Kind, policy_changed
from charters.terms import terms_of

Status = Charter.Status
VersionStatus = CharterVersion.Status
# Who gives a partner its access back when a new charter with it is approved (the reason names the officer).
APPROVAL = Actor.system("charter-approval")

# Who is told that an approved version waits for the partner's acceptance: registered by the app that sends mail
# (governance's outbox, above this one), and called in the approval's transaction so the mail goes only if it commits.
ACCEPTANCE_NOTIFIERS: list[Callable[[CharterVersion], None]] = []


def acceptance_notifier_register(notify: Callable[[CharterVersion], None]) -> None:
    if notify not in ACCEPTANCE_NOTIFIERS:
        ACCEPTANCE_NOTIFIERS.append(notify)


# --- Reading a version back as a document ---------------------------------------------------------------


def version_as_document(version: CharterVersion, *, agreement: bool = False) -> dict[str, Any]:
    """The whole version as a charter file would say it (what export writes and plan compares against); with
    ``agreement``, only what the partner reads and accepts (without the host-only terms)."""
    document = {"name": version.charter.slug, "partner": version.charter.partner.slug, **version.document}
    document["exit_plan"] = version.exit_plan.as_document()
    return documents.ordered(documents.agreement_of(document) if agreement else document)


def version_as_yaml(version: CharterVersion, *, agreement: bool = False) -> str:
    return documents.to_yaml(version_as_document(version, agreement=agreement))


def _hashed_content(document: dict[str, Any]) -> dict[str, Any]:
    """What a version's hash covers: the content, not which charter or partner it is filed under."""
    return {key: value for key, value in document.items() if key not in ("name", "partner", "playbook")}


def charter_current_version(charter: Charter) -> CharterVersion | None:
    """The newest version, whatever its status: what plan and apply compare a file against."""
    return (
        CharterVersion.objects.select_related("charter__partner", "exit_plan", "author")
        .filter(charter=charter)
        .order_by("-number")
        .first()
    )


def charter_accepted_version(charter: Charter) -> CharterVersion | None:
    """The newest version of the charter that a partner admin accepted (and that was active at some point)."""
    return (
        CharterVersion.objects.filter(
            charter=charter, acknowledgements__isnull=False, status__in=["active", "superseded"]
        )
        .order_by("-number")
        .first()
    )


def charter_policy_state(charter: Charter) -> dict[str, Any]:
    """What the charter says to decisions: its state and which versions count (the policy feed's state)."""
    accepted = charter_accepted_version(charter)
    return {
        "slug": charter.slug,
        "status": charter.status,
        "active_version": charter.active_version_id,
        "accepted_version": accepted.pk if accepted else None,
    }


def _policy_changed(charter: Charter, by: Actor) -> None:
    policy_changed(Kind.CHARTER, charter.pk, by=by, state=charter_policy_state(charter))


def _record_version(action: str, version: CharterVersion, *, by: Actor, reason: str = "", **details: Any) -> None:
    """One event about a charter version, always naming the charter, the version number and its agreement's hash.
    The event is in the partner's slice of the trail, so it carries nothing of the host-only terms, not even the
    whole version's hash (small thresholds could be guessed from it): those are ``_record_host_terms``'s."""
    charter = version.charter
    record(
        action=action,
        actor=by,
        partner=charter.partner.slug,
        target=version,
        reason=reason,
        details={
            "charter": charter.slug,
            "number": version.number,
            "agreement_hash": version.agreement_hash,
            **details,
        },
    )


def _record_host_terms(version: CharterVersion, *, by: Actor) -> None:
    """The version's host-only terms and its whole hash, in a host-scoped event (no partner's slice holds it)."""
    record(
        action="charter_version.host_terms_written",
        actor=by,
        target=version,
        details={
            "charter": version.charter.slug,
            "partner": version.charter.partner.slug,
            "number": version.number,
            "content_hash": version.content_hash,
            "host_terms": documents.host_terms_of(version.document),
        },
    )


# --- Checking a document --------------------------------------------------------------------------------


@dataclass
class CheckedDocument:
    parsed: Parsed
    partner: Partner
    host: Organisation

    @property
    def data(self) -> dict[str, Any]:
        return self.parsed.data


def document_check(text: str, *, source: str = "") -> CheckedDocument:
    """Parse, validate against the schema and check every guardrail; CharterDocumentError lists all problems.
    The document returned names each listed asset version with its registry fingerprint."""
    parsed = documents.parse(text, source=source)
    documents.validate_schema(parsed, source=source)
    partner = Partner.objects.filter(slug=parsed.data["partner"]).first()
    if partner is None:
        raise CharterDocumentError(
            [
                Problem(
                    "partner",
                    f"there is no partner {parsed.data['partner']!r}. Add it first.",
                    parsed.line_of(["partner"]),
                )
            ],
            source,
        )
    host = Organisation.objects.filter(kind=Organisation.Kind.HOST).first()
    if host is None:
        raise CharterDocumentError(
            [Problem("", "there is no host organisation yet: add the first officer with manage.py add_user.")], source
        )
    problems = guardrails.check(parsed, partner=partner, host=host)
    charter = Charter.objects.select_related("partner").filter(slug=parsed.data["name"]).first()
    if charter is not None and charter.partner_id != partner.pk:
        problems.insert(
            0,
            Problem(
                "partner",
                f"charter {charter.slug!r} is with {charter.partner.slug}; a charter cannot move to another partner.",
                parsed.line_of(["partner"]),
            ),
        )
    defined = parsed.data.get("playbook")
    if defined is not None:
        existing = IncidentPlaybook.objects.filter(slug=defined["name"]).first()
        if existing is not None and existing.as_document() != _playbook_document(defined):
            problems.append(
                Problem(
                    "playbook",
                    f"playbook {defined['name']!r} already exists with other content, and "
                    "playbooks never change under the charters that use them. Give this one a new name.",
                    parsed.line_of(["playbook"]),
                )
            )
    if problems:
        raise CharterDocumentError(problems, source)
    return CheckedDocument(parsed=guardrails.pinned(parsed, partner=partner, host=host), partner=partner, host=host)


def _playbook_document(defined: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": defined["name"],
        "title": defined["title"],
        "severity_levels": defined["severity_levels"],
        "notify": defined.get("notify", []),
        "steps": defined["steps"],
    }


# --- Plan and apply -------------------------------------------------------------------------------------


@dataclass
class Plan:
    slug: str
    current: CharterVersion | None
    diff: list[str]

    @property
    def changes(self) -> bool:
        return self.current is None or bool(self.diff)


def charter_plan(*, text: str, source: str = "") -> Plan:
    """What applying this document would change, as a unified diff against the current version. Writes nothing."""
    return _plan(document_check(text, source=source), source=source)


def _plan(checked: CheckedDocument, *, source: str) -> Plan:
    slug = checked.data["name"]
    charter = Charter.objects.filter(slug=slug).first()
    current = charter_current_version(charter) if charter else None
    proposed = documents.to_yaml({key: value for key, value in checked.data.items() if key != "playbook"})
    before = version_as_yaml(current) if current else ""
    before_name = f"{slug} v{current.number} ({current.status})" if current else f"{slug} (new charter)"
    diff = documents.unified_diff(before, proposed, before_name=before_name, after_name=source or "proposed")
    return Plan(slug=slug, current=current, diff=diff)


def _playbook_ensure(checked: CheckedDocument, *, by: Actor, author: User) -> IncidentPlaybook:
    slug = checked.data["incident_response"]["playbook"]
    existing = IncidentPlaybook.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    defined = _playbook_document(checked.data["playbook"])
    playbook = IncidentPlaybook(
        slug=slug,
        title=defined["title"],
        severity_levels=defined["severity_levels"],
        notify=defined["notify"],
        steps=defined["steps"],
        created_by=author,
    )
    playbook.full_clean()
    playbook.save()
    record(action="playbook.created", actor=by, target=playbook, details={"name": slug, "steps": len(defined["steps"])})
    return playbook


def _split(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checked document as (version content, exit plan)."""
    content = {
        key: copy.deepcopy(value)
        for key, value in data.items()
        if key not in ("name", "partner", "playbook", "exit_plan")
    }
    exit_plan = copy.deepcopy(data["exit_plan"])
    exit_plan.setdefault("knowledge_transfer", [])
    return content, exit_plan


def _write_exit_plan(version: CharterVersion, exit_plan: dict[str, Any]) -> None:
    plan = getattr(version, "exit_plan", None) if version.pk else None
    plan = plan or ExitPlan(version=version)
    plan.items = exit_plan["items"]
    plan.outputs_owner = exit_plan["outputs_owner"]
    plan.knowledge_transfer = exit_plan.get("knowledge_transfer", [])
    plan.partner_attests_destruction = exit_plan["partner_attests_destruction"]
    plan.full_clean()
    plan.save()


def _next_number(charter: Charter) -> int:
    return (charter.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1


@dataclass(frozen=True)
class _VersionContent:
    """What a checked document puts into a charter version: its content and exit plan, their hash, its playbook."""

    document: dict[str, Any]
    content_hash: str
    agreement_hash: str
    exit_plan: dict[str, Any]
    playbook: IncidentPlaybook


@performs(Operation.CHARTER_WRITE)
@transaction.atomic
def charter_apply(
    *,
    text: str,
    by: Actor,
    source: str = "",
    expected_revision: int | None = None,
    charter_slug: str | None = None,
) -> CharterVersion | None:
    """Write the document as the charter's draft: the open draft is replaced, or a new draft is created.

    Returns None when the document equals the current version. Activation still needs a second officer.
    ``expected_revision`` (from an editor) makes a concurrent edit of the same draft fail instead of being lost;
    ``charter_slug`` (from an editor of one charter) refuses a document that names another charter.
    """
    author = person(by)
    checked = document_check(text, source=source)
    _refuse_another_charter(checked, charter_slug, source=source)
    if not _plan(checked, source=source).changes:
        return None
    content = _version_content(checked, by=by, author=author)
    now = timezone.now()
    charter = _charter_to_write(checked, by=by, author=author)
    draft = _open_draft(charter)
    if draft is not None:
        version = _draft_rewrite(draft, content, author=author, now=now, expected_revision=expected_revision)
        action = "charter_version.updated"
    else:
        version = _draft_start(charter, content, author=author, now=now)
        action = "charter_version.drafted"
    _write_exit_plan(version, content.exit_plan)
    version.contributors.add(author)
    Charter.objects.filter(pk=charter.pk).update(title=checked.data["title"])
    _record_version(action, version, by=by, revision=version.revision)
    _record_host_terms(version, by=by)
    return version


def _refuse_another_charter(checked: CheckedDocument, charter_slug: str | None, *, source: str) -> None:
    if charter_slug is None or checked.data["name"] == charter_slug:
        return
    raise CharterDocumentError(
        [
            Problem(
                "name",
                f"this editor is for charter {charter_slug!r}; change the name back (a new charter is "
                "started from the charters page).",
                checked.parsed.line_of(["name"]),
            )
        ],
        source,
    )


def _version_content(checked: CheckedDocument, *, by: Actor, author: User) -> _VersionContent:
    """What the document puts into a version, with its playbook (created first when the document defines it)."""
    playbook = _playbook_ensure(checked, by=by, author=author)
    document, exit_plan = _split(checked.data)
    whole = {**document, "exit_plan": exit_plan}
    return _VersionContent(
        document=document,
        content_hash=documents.content_hash(whole),
        agreement_hash=documents.content_hash(documents.agreement_of(whole)),
        exit_plan=exit_plan,
        playbook=playbook,
    )


def _charter_to_write(checked: CheckedDocument, *, by: Actor, author: User) -> Charter:
    """The charter the document names, locked until the transaction ends; created (and recorded) when it is new.
    A charter that has ended refuses every change."""
    data = checked.data
    charter = Charter.objects.select_for_update().filter(slug=data["name"]).first()
    if charter is None:
        charter = Charter(slug=data["name"], partner=checked.partner, title=data["title"], created_by=author)
        charter.full_clean()
        charter.save()
        record(
            action="charter.created",
            actor=by,
            partner=checked.partner.slug,
            target=charter,
            details={"name": charter.slug, "title": charter.title},
        )
    elif charter.status in (Status.TERMINATED, Status.EXPIRED):
        raise ValidationError({"name": f"Charter {charter.slug} is {charter.status}: it can no longer be amended."})
    return charter


def _open_draft(charter: Charter) -> CharterVersion | None:
    """The charter's draft that applying replaces, or None when it has none. A version in review refuses it."""
    draft = charter.versions.filter(status__in=CharterVersion.OPEN).first()
    if draft is not None and draft.status == VersionStatus.IN_REVIEW:
        raise ValidationError(
            {
                "name": f"Version {draft.number} of {charter.slug} is in review. Approve it or send it back to draft "
                "before applying another change."
            }
        )
    return draft


def _draft_rewrite(
    draft: CharterVersion, content: _VersionContent, *, author: User, now: datetime, expected_revision: int | None
) -> CharterVersion:
    """The open draft with the new content, as its next revision."""
    if expected_revision is not None and expected_revision != draft.revision:
        raise ValidationError(
            {
                "revision": f"Someone else saved version {draft.number} while you were editing (revision "
                f"{draft.revision}, you started from {expected_revision}). Reload it and apply your change again."
            }
        )
    # Compare-and-swap on the revision: a concurrent apply that got here first makes this update miss.
    claimed = CharterVersion.objects.filter(pk=draft.pk, status=VersionStatus.DRAFT, revision=draft.revision).update(
        document=content.document,
        content_hash=content.content_hash,
        agreement_hash=content.agreement_hash,
        playbook=content.playbook,
        revision=draft.revision + 1,
        author=author,
        updated_at=now,
    )
    if not claimed:
        raise ValidationError({"revision": "This draft changed while you were saving. Reload it and try again."})
    draft.refresh_from_db()
    return draft


def _draft_start(charter: Charter, content: _VersionContent, *, author: User, now: datetime) -> CharterVersion:
    """A new draft version of the charter, numbered after its newest."""
    version = CharterVersion(
        charter=charter,
        number=_next_number(charter),
        document=content.document,
        content_hash=content.content_hash,
        agreement_hash=content.agreement_hash,
        playbook=content.playbook,
        author=author,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError:
        raise ValidationError(
            {"name": f"{charter.slug} got a new draft at the same moment; reload and try again."}
        ) from None
    return version


# --- Transitions ----------------------------------------------------------------------------------------


def _recheck(version: CharterVersion) -> None:
    """Guardrails again, against today's registry: an asset may have been reclassified since the draft."""
    try:
        document_check(version_as_yaml(version), source=f"{version.charter.slug} v{version.number}")
    except CharterDocumentError as error:
        raise ValidationError({"document": [str(problem) for problem in error.problems]}) from None


def _claim(version: CharterVersion, *, old: str, **changes: Any) -> None:
    claimed = CharterVersion.objects.filter(pk=version.pk, status=old).update(**changes)
    if not claimed:
        # Another officer moved this version first; tell the person, do not act twice.
        version.refresh_from_db()
        raise ValidationError(
            {
                "status": f"Version {version.number} is {version.get_status_display().lower()} now, not "
                f"{VersionStatus(old).label.lower()}. Reload the page."
            }
        )
    version.refresh_from_db()


@performs(Operation.CHARTER_SUBMIT)
@transaction.atomic
def charter_version_submit(*, version: CharterVersion, by: Actor) -> CharterVersion:
    _recheck(version)
    _claim(version, old=VersionStatus.DRAFT, status=VersionStatus.IN_REVIEW, submitted_at=timezone.now())
    charter = version.charter
    if charter.status == Status.DRAFT:
        Charter.objects.filter(pk=charter.pk, status=Status.DRAFT).update(status=Status.IN_REVIEW)
    _record_version("charter_version.submitted", version, by=by)
    return version


@performs(Operation.CHARTER_RETURN)
@transaction.atomic
def charter_version_return(*, version: CharterVersion, by: Actor, reason: str) -> CharterVersion:
    """Send a version in review back to draft, saying why."""
    if not reason.strip():
        raise ValidationError({"reason": "Say what must change before this version can be approved."})
    _claim(version, old=VersionStatus.IN_REVIEW, status=VersionStatus.DRAFT, submitted_at=None)
    charter = version.charter
    Charter.objects.filter(pk=charter.pk, status=Status.IN_REVIEW).update(status=Status.DRAFT)
    _record_version("charter_version.returned", version, by=by, reason=reason)
    return version


@performs(Operation.CHARTER_APPROVE)
@transaction.atomic
def charter_version_approve(*, version: CharterVersion, by: Actor) -> CharterVersion:
    """Activate a version in review. Two-person rule: nobody who wrote it may approve it."""
    approver = person(by)
    if version.contributors.filter(pk=approver.pk).exists() or version.author_id == approver.pk:
        raise ValidationError(
            {
                "approver": f"{approver.username} wrote version {version.number}, and the two-person rule needs a "
                "second officer to approve it. Ask another officer."
            }
        )
    _recheck(version)
    charter = Charter.objects.select_for_update().get(pk=version.charter_id)
    if charter.status in (Status.TERMINATED, Status.EXPIRED):
        raise ValidationError({"status": f"Charter {charter.slug} is {charter.status}; nothing can be activated."})
    previous = charter.active_version
    if previous is not None:
        _claim(previous, old=VersionStatus.ACTIVE, status=VersionStatus.SUPERSEDED)
    _claim(
        version,
        old=VersionStatus.IN_REVIEW,
        status=VersionStatus.ACTIVE,
        approved_at=timezone.now(),
        approved_by=approver,
    )
    charter.active_version = version
    if charter.status in (Status.DRAFT, Status.IN_REVIEW):
        charter.status = Status.ACTIVE
    charter.save(update_fields=["active_version", "status"])
    # A new collaboration with a partner whose last one ended by an exit: its people may have tokens again.
    partner_access_restore(
        partner=charter.partner,
        by=APPROVAL,
        reason=f"Charter {charter.slug} v{version.number} approved by {approver.username}.",
    )
    _policy_changed(charter, by)
    _record_version(
        "charter_version.approved",
        version,
        by=by,
        author=version.author.username,
        supersedes=previous.number if previous else None,
    )
    for notify in ACCEPTANCE_NOTIFIERS:  # each new version needs the partner's acceptance before it counts
        notify(version)
    return version


@performs(Operation.CHARTER_WRITE)
@transaction.atomic
def charter_amend(*, charter: Charter, by: Actor) -> CharterVersion:
    """Start a new draft from the active version (the web UI's "Amend"); files use charter_apply instead."""
    author = person(by)
    active = charter.active_version
    if active is None:
        raise ValidationError({"status": f"Charter {charter.slug} has no active version to amend."})
    if charter.versions.filter(status__in=CharterVersion.OPEN).exists():
        raise ValidationError({"status": f"Charter {charter.slug} already has an open draft: edit that one."})
    now = timezone.now()
    number = _next_number(charter)
    version = CharterVersion(
        charter=charter,
        number=number,
        document=copy.deepcopy(active.document),
        content_hash=active.content_hash,
        agreement_hash=active.agreement_hash,
        playbook=active.playbook,
        author=author,
        created_at=now,
        updated_at=now,
    )
    version.save()
    _write_exit_plan(version, active.exit_plan.as_document())
    version.contributors.add(author)
    _record_version("charter_version.drafted", version, by=by, amends=active.number)
    _record_host_terms(version, by=by)
    return version


def _charter_transition(
    charter: Charter, *, old: tuple[str, ...], new: str, action: str, by: Actor, reason: str
) -> Charter:
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason: it goes into the trail and to the partner."})
    claimed = Charter.objects.filter(pk=charter.pk, status__in=old).update(status=new, status_reason=reason)
    if not claimed:
        charter.refresh_from_db()
        raise ValidationError(
            {
                "status": f"Charter {charter.slug} is {charter.get_status_display().lower()}; "
                f"it cannot become {new} from there."
            }
        )
    charter.refresh_from_db()
    _policy_changed(charter, by)
    record(
        action=action,
        actor=by,
        partner=charter.partner.slug,
        target=charter,
        reason=reason,
        details={"charter": charter.slug, "status": new},
    )
    return charter


@performs(Operation.CHARTER_SUSPEND)
@transaction.atomic
def charter_suspend(*, charter: Charter, by: Actor, reason: str) -> Charter:
    return _charter_transition(
        charter, old=(Status.ACTIVE,), new=Status.SUSPENDED, action="charter.suspended", by=by, reason=reason
    )


@performs(Operation.CHARTER_RESUME)
@transaction.atomic
def charter_resume(*, charter: Charter, by: Actor, reason: str) -> Charter:
    return _charter_transition(
        charter, old=(Status.SUSPENDED,), new=Status.ACTIVE, action="charter.resumed", by=by, reason=reason
    )


@performs(Operation.CHARTER_TERMINATE)
@transaction.atomic
def charter_terminate(*, charter: Charter, by: Actor, reason: str) -> Charter:
    """Record the end of a charter. Only an exit does this (governance's ``charter_end``, which revokes the grants
    under it): charters know nothing of grants, so nothing else may end one."""
    charter = _charter_transition(
        charter,
        old=(Status.DRAFT, Status.IN_REVIEW, Status.ACTIVE, Status.SUSPENDED),
        new=Status.TERMINATED,
        action="charter.terminated",
        by=by,
        reason=reason,
    )
    CharterVersion.objects.filter(charter=charter, status__in=CharterVersion.OPEN).update(
        status=VersionStatus.WITHDRAWN
    )
    return charter


@performs(Operation.CHARTER_EXPIRE)
@transaction.atomic
def charter_expire(*, charter: Charter, today: date, by: Actor) -> Charter | None:
    """Expire a charter whose active version's window has ended. Idempotent: None when there is nothing to do."""
    active = charter.active_version
    last_day = terms_of(active).window.last_day if active is not None else None
    if last_day is None or last_day >= today:
        return None
    until = last_day.isoformat()
    claimed = Charter.objects.filter(pk=charter.pk, status__in=(Status.ACTIVE, Status.SUSPENDED)).update(
        status=Status.EXPIRED, status_reason=f"validity ended on {until}"
    )
    if not claimed:
        return None
    charter.refresh_from_db()
    _policy_changed(charter, by)
    record(
        action="charter.expired",
        actor=by,
        partner=charter.partner.slug,
        target=charter,
        details={"charter": charter.slug, "until": until},
    )
    return charter


# --- Partner acknowledgement ----------------------------------------------------------------------------


def required_trainings(version: CharterVersion) -> list[dict[str, str]]:
    return [
        {"name": training.name, "link": training.link, "version": training.version}
        for training in terms_of(version).trainings
    ]


@performs(Operation.CHARTER_ACCEPT)
@transaction.atomic
def charter_acknowledge(
    *, version: CharterVersion, trainings_confirmed: list[str], by: Actor
) -> CharterAcknowledgement:
    """A partner admin accepts the charter's active version and confirms each training it requires."""
    partner_admin = person(by)
    # The caller's copy may be stale: judge the version as it is now.
    version = CharterVersion.objects.select_related("charter__partner").get(pk=version.pk)
    charter = version.charter
    if partner_admin.organisation_id != charter.partner_id:
        raise PermissionDenied(f"Only a partner admin of {charter.partner.name} can accept this charter.")
    if version.status != VersionStatus.ACTIVE:
        raise ValidationError(
            {
                "version": f"Version {version.number} is {version.get_status_display().lower()}; "
                "only the active version can be accepted."
            }
        )
    existing = CharterAcknowledgement.objects.filter(version=version, partner_admin=partner_admin).first()
    if existing is not None:
        return existing
    required = required_trainings(version)
    missing = [training["name"] for training in required if training["name"] not in trainings_confirmed]
    unknown = sorted(set(trainings_confirmed) - {training["name"] for training in required})
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"confirm each required training first: {', '.join(missing)}")
        if unknown:
            problems.append(f"this version requires no training called {', '.join(unknown)}")
        raise ValidationError({"trainings": "; ".join(problems).capitalize() + "."})
    acknowledgement = CharterAcknowledgement.objects.create(
        version=version,
        partner_admin=partner_admin,
        content_hash=version.agreement_hash,
        covers=CharterAcknowledgement.Covers.AGREEMENT,
        trainings=[{"name": training["name"], "version": training["version"]} for training in required],
    )
    _policy_changed(charter, by)
    _record_version(
        "charter_version.acknowledged",
        version,
        by=by,
        trainings=acknowledgement.trainings,
    )
    return acknowledgement
