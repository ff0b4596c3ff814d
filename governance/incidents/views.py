"""Incident pages: declare (or drill), the checklist with its clocks, ticking steps off, closing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import request_user, user_who_may
from accounts.models import User
from accounts.operations import Operation, may
from accounts.services import actor_for
from charters.access import charter_get_for_user
from governance import access
from governance.incidents import selectors as incident_selectors
from governance.incidents import services as incidents
from governance.models import IncidentStep


def _reader(request: HttpRequest) -> User:
    return request_user(request)


@login_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    user = _reader(request)
    page = Paginator(access.incidents_visible_to(user), 50).get_page(request.GET.get("page"))
    return render(request, "governance/incident_list.html", {"page": page})


@login_required
@require_POST
def incident_declare(request: HttpRequest, slug: str) -> HttpResponse:
    user = user_who_may(request, Operation.INCIDENT_DECLARE)
    charter = charter_get_for_user(user, slug)
    try:
        incident = incidents.incident_declare(
            charter=charter,
            title=request.POST.get("title", ""),
            severity=request.POST.get("severity", ""),
            summary=request.POST.get("summary", ""),
            drill=request.POST.get("drill") == "on",
            by=actor_for(user),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("charters:charter-detail", slug=slug)
    kind = "Drill" if incident.drill else "Incident"
    messages.success(request, f"{kind} #{incident.pk} is open; its automatic steps are running.")
    return redirect("incident-detail", pk=incident.pk)


@login_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _reader(request)
    incident = access.incident_get_for_user(user, pk)
    timings = incident_selectors.incident_timings(incident)
    return render(
        request,
        "governance/incident_detail.html",
        {
            "incident": incident,
            "checklist": incident_selectors.incident_checklist(incident, timings),
            "timings": timings,
            "findings": incident.findings.select_related("grant"),
            "can_act": may(user, Operation.INCIDENT_RUN) and incident.status == "open",
        },
    )


@login_required
@require_POST
def incident_step_done(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    user = user_who_may(request, Operation.INCIDENT_RUN)
    incident = access.incident_get_for_user(user, pk)
    step = get_object_or_404(IncidentStep, incident=incident, position=position)
    try:
        incidents.incident_step_complete(step=step, by=actor_for(user), note=request.POST.get("note", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Step {position} is done.")
    return redirect("incident-detail", pk=pk)


@login_required
@require_POST
def incident_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_who_may(request, Operation.INCIDENT_RUN)
    incident = access.incident_get_for_user(user, pk)
    try:
        incidents.incident_close(
            incident=incident,
            by=actor_for(user),
            resolution=request.POST.get("resolution", ""),
            release_holds=request.POST.get("release_holds") == "on",
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"#{pk} is closed.")
    return redirect("incident-detail", pk=pk)
