"""Charter pages: list, write (as YAML, the same format as files), review, approve, suspend, diff, accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from accord.validation import describe
from accounts.access import request_user
from accounts.models import User
from accounts.services import actor_for
from charters import access, documents
from charters.documents import CharterDocumentError
from charters.models import Charter, CharterVersion
from charters.services import charters as services

# A new charter starts from a realistic example rather than an empty box.
STARTER = documents.SCHEMA_PATH.parent.parent / "examples" / "northwind-evaluation.yaml"


def _require_officer(user: User) -> None:
    if not access.can_manage_charters(user):
        raise PermissionDenied("Only governance officers write and approve charters.")


@login_required
def charter_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    charters = access.charters_visible_to(user).order_by("slug")
    return render(
        request, "charters/charter_list.html", {"charters": charters, "can_manage": access.can_manage_charters(user)}
    )


@dataclass(frozen=True)
class _Refused:
    """Why the editor's text was not saved: the problems, one a line, and the lines of the text they name (the
    editor marks them)."""

    problems: str
    lines: list[int] = field(default_factory=list)


def _write(*, text: str, user: User, **apply_options: Any) -> CharterVersion | _Refused | None:
    """Apply the editor's text; returns the version (or None: no change), or why it was refused."""
    try:
        return services.charter_apply(text=text, by=actor_for(user), source="the editor", **apply_options)
    except CharterDocumentError as error:
        return _Refused("\n".join(str(problem) for problem in error.problems), error.lines())
    except ValidationError as error:
        return _Refused(describe(error))


@login_required
def charter_new(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    _require_officer(user)
    text = request.POST.get("document", "") if request.method == "POST" else STARTER.read_text(encoding="utf-8")
    refused: _Refused | None = None
    if request.method == "POST":
        outcome = _write(text=text, user=user)
        if isinstance(outcome, CharterVersion):
            messages.success(request, f"Charter {outcome.charter.slug} saved as draft version {outcome.number}.")
            return redirect("charters:charter-detail", slug=outcome.charter.slug)
        refused = outcome or _Refused("This is exactly the charter's current version: nothing to save.")
    return render(request, "charters/charter_form.html", {"text": text, "refused": refused, "charter": None})


@login_required
def charter_detail(request: HttpRequest, slug: str) -> HttpResponse:
    user = request_user(request)
    charter = access.charter_get_for_user(user, slug)
    versions = charter.versions.select_related("author", "approved_by").order_by("-number")
    acknowledgements = (
        charter.active_version.acknowledgements.select_related("partner_admin") if charter.active_version else []
    )
    return render(
        request,
        "charters/charter_detail.html",
        {
            "charter": charter,
            "versions": versions,
            "acknowledgements": acknowledgements,
            "can_manage": access.can_manage_charters(user),
            "can_acknowledge": access.can_acknowledge(user, charter),
            "accepted_by_me": any(ack.partner_admin_id == user.pk for ack in acknowledgements),
        },
    )


@login_required
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    user = request_user(request)
    version = access.charter_version_get_for_user(user, slug, number)
    return render(
        request,
        "charters/version_detail.html",
        {
            "version": version,
            "charter": version.charter,
            "yaml": services.version_as_yaml(version, agreement=not access.sees_host_terms(user)),
            "host_terms": access.sees_host_terms(user),
            "can_manage": access.can_manage_charters(user),
            "is_contributor": version.contributors.filter(pk=user.pk).exists(),
        },
    )


@login_required
def version_edit(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    user = request_user(request)
    _require_officer(user)
    version = access.charter_version_get_for_user(user, slug, number)
    if version.status != CharterVersion.Status.DRAFT:
        messages.error(
            request, f"Version {number} is {version.get_status_display().lower()}: only drafts can be edited."
        )
        return redirect("charters:version-detail", slug=slug, number=number)
    text, revision = services.version_as_yaml(version), version.revision
    refused: _Refused | None = None
    if request.method == "POST":
        text = request.POST.get("document", "")
        try:
            revision = int(request.POST.get("revision", ""))
        except ValueError:
            revision = -1
        outcome = _write(text=text, user=user, expected_revision=revision, charter_slug=slug)
        if isinstance(outcome, CharterVersion) or outcome is None:
            messages.success(request, f"Draft version {number} saved." if outcome else "No changes to save.")
            return redirect("charters:version-detail", slug=slug, number=number)
        refused = outcome
    return render(
        request,
        "charters/charter_form.html",
        {"text": text, "refused": refused, "charter": version.charter, "version": version, "revision": revision},
    )


@login_required
@require_POST
def version_transition(request: HttpRequest, slug: str, number: int, transition: str) -> HttpResponse:
    user = request_user(request)
    _require_officer(user)
    version = access.charter_version_get_for_user(user, slug, number)
    actor = actor_for(user)
    try:
        if transition == "submit":
            services.charter_version_submit(version=version, by=actor)
            done = f"Version {number} is in review. Another officer approves it."
        elif transition == "approve":
            services.charter_version_approve(version=version, by=actor_for(user))
            done = f"Version {number} is active. The partner admin is asked to accept it."
        elif transition == "return":
            services.charter_version_return(version=version, by=actor, reason=request.POST.get("reason", ""))
            done = f"Version {number} is back in draft."
        else:
            raise PermissionDenied(f"Unknown step {transition!r}.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("charters:version-detail", slug=slug, number=number)


@login_required
@require_POST
def charter_transition(request: HttpRequest, slug: str, transition: str) -> HttpResponse:
    user = request_user(request)
    _require_officer(user)
    charter = access.charter_get_for_user(user, slug)
    actor, reason = actor_for(user), request.POST.get("reason", "")
    steps = {
        "suspend": lambda: services.charter_suspend(charter=charter, by=actor, reason=reason),
        "resume": lambda: services.charter_resume(charter=charter, by=actor, reason=reason),
    }
    try:
        if transition == "amend":
            version = services.charter_amend(charter=charter, by=actor_for(user))
            return redirect("charters:version-edit", slug=slug, number=version.number)
        if transition not in steps:
            raise PermissionDenied(f"Unknown step {transition!r}.")
        steps[transition]()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"Charter {slug} is {Charter.objects.get(pk=charter.pk).get_status_display().lower()}."
        )
    return redirect("charters:charter-detail", slug=slug)


@login_required
def version_diff(request: HttpRequest, slug: str) -> HttpResponse:
    user = request_user(request)
    charter = access.charter_get_for_user(user, slug)
    numbers = list(charter.versions.order_by("number").values_list("number", flat=True))
    try:
        before_number = int(request.GET.get("a", numbers[-2] if len(numbers) > 1 else numbers[0]))
        after_number = int(request.GET.get("b", numbers[-1]))
    except (ValueError, IndexError):
        before_number = after_number = 0
    if before_number not in numbers or after_number not in numbers:
        messages.error(request, f"Pick two of this charter's versions ({', '.join(map(str, numbers))}).")
        return redirect("charters:charter-detail", slug=slug)
    before = access.charter_version_get_for_user(user, slug, before_number)
    after = access.charter_version_get_for_user(user, slug, after_number)
    agreement = not access.sees_host_terms(user)
    table = documents.side_by_side(
        services.version_as_yaml(before, agreement=agreement),
        services.version_as_yaml(after, agreement=agreement),
        before_name=f"version {before.number} ({before.get_status_display().lower()})",
        after_name=f"version {after.number} ({after.get_status_display().lower()})",
    )
    return render(
        request,
        "charters/version_diff.html",
        # difflib escapes the document text itself; the table markup is its own.
        {"charter": charter, "table": mark_safe(table), "numbers": numbers, "a": before_number, "b": after_number},  # noqa: S308
    )


@login_required
def acknowledge(request: HttpRequest, slug: str) -> HttpResponse:
    user = request_user(request)
    charter = access.charter_get_for_user(user, slug)
    if not access.can_acknowledge(user, charter):
        raise PermissionDenied(f"Only a partner admin of {charter.partner.name} accepts this charter.")
    version = charter.active_version
    if version is None:
        messages.error(request, "This charter has no active version to accept yet.")
        return redirect("charters:charter-detail", slug=slug)
    if request.method == "POST":
        try:
            services.charter_acknowledge(
                version=version,
                trainings_confirmed=request.POST.getlist("training"),
                by=actor_for(user),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"You accepted version {version.number} of {charter.slug}.")
            return redirect("charters:charter-detail", slug=slug)
    return render(
        request,
        "charters/acknowledge.html",
        {
            "charter": charter,
            "version": version,
            # The partner accepts the agreement: the host's own terms are not theirs to read.
            "yaml": services.version_as_yaml(version, agreement=True),
            "trainings": services.required_trainings(version),
            "accepted": version.acknowledgements.filter(partner_admin=user).first(),
        },
    )
