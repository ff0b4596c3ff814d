"""The partner portal: a partner admin's own access, read-only except their own acts (answering an incident step,
managing principals, exporting their slice of the trail; accepting charters, requesting grants and attesting exits
have their own pages). The authorization matrix lets only partner admins in (accounts/matrix.py)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import services as account_services
from accounts.access import principals_visible_to, request_user
from audit import exports
from audit.models import ExportFile, ExportJob
from charters.access import assets_visible_to
from governance import access
from governance.incidents.services import incident_step_answer
from governance.portal import selectors

EXPORTS_SHOWN = 10


@require_GET
def portal_home(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    now = timezone.now()
    grants, grant_count, counters_answered = selectors.grants_in_use(user, now)
    return render(
        request,
        "governance/portal/home.html",
        {
            "to_accept": selectors.versions_to_accept(user),
            "grants": grants,
            "grant_count": grant_count,
            "grants_shown": selectors.GRANTS_SHOWN,
            "counters_answered": counters_answered,
            "shared": selectors.shared_versions(user),
            "own_assets": assets_visible_to(user).prefetch_related("versions"),
            "upcoming": selectors.upcoming(user, now),
            "steps": list(selectors.steps_waiting(user)[:10]),
            "exits": selectors.exits_of(user),
            "decisions": selectors.recent_decisions(user),
            "now": now,
        },
    )


@require_GET
def portal_incidents(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    incidents = list(selectors.incidents_of(user)[:20])
    return render(request, "governance/portal/incidents.html", {"incidents": incidents})


@require_POST
def portal_step_answer(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    user = request_user(request)
    step = access.partner_steps_of(user).filter(incident_id=pk, position=position).first()
    if step is None:
        raise Http404("No such incident step among your partner's.")
    try:
        incident_step_answer(step=step, by=account_services.actor_for(user), note=request.POST.get("note", ""))
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    else:
        messages.success(request, f"Step {step.position} of incident #{pk} answered: the host's officers see it.")
    return redirect("portal-incidents")


@require_GET
def portal_principals(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    principals = principals_visible_to(user).prefetch_related("api_tokens")
    return render(request, "governance/portal/principals.html", {"principals": principals})


@require_POST
def portal_principal_create(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    try:
        principal = account_services.principal_create(
            partner=user.organisation,
            username=request.POST.get("username", "").strip(),
            full_name=request.POST.get("full_name", "").strip(),
            by=account_services.actor_for(user),
        )
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    else:
        messages.success(
            request, f"Principal {principal.username} added. Issue it a token on the API tokens page to use it."
        )
    return redirect("portal-principals")


@require_POST
def portal_principal_disable(request: HttpRequest, username: str) -> HttpResponse:
    user = request_user(request)
    principal = principals_visible_to(user).filter(username=username).first()
    if principal is None:
        raise Http404("No such principal among your partner's.")
    try:
        disabled = account_services.principal_disable(
            principal=principal, by=account_services.actor_for(user), reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if disabled:
            messages.success(request, f"Principal {principal.username} disabled: its tokens no longer work.")
        else:
            messages.info(request, f"Principal {principal.username} was disabled already.")
    return redirect("portal-principals")


@require_GET
def portal_trail(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    jobs = list(ExportJob.objects.filter(partner=user.partner_slug).order_by("-created_at")[:EXPORTS_SHOWN])
    manifests = dict(ExportFile.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "manifest"))
    rows = [(job, manifests.get(job.pk)) for job in jobs]
    waiting = any(job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for job in jobs)
    return render(request, "governance/portal/trail.html", {"rows": rows, "waiting": waiting})


@require_POST
def portal_trail_export(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    try:
        exports.export_queue(
            by=account_services.actor_for(user),
            requested_by=str(user.pk),
            scope=user.partner_slug,
            fmt=request.POST.get("format", "jsonl"),
            since=None,
            until=None,
        )
    except exports.ExportError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Export queued: a worker writes it, and it appears below with its manifest.")
    return redirect("portal-trail")
