from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware
from django.views.decorators.http import require_GET, require_POST

from accord.validation import is_whole_number
from audit import exports
from audit.access import actor_of, export_get_for_user
from audit.actions import action_filter_choices
from audit.models import Event, ExportFile, ExportJob
from audit.presentation import details_named, entries, targets_named
from audit.selectors import event_list

PAGE_SIZE = 50
FILTERS = ("partner", "action", "actor", "outcome", "since", "until")
WAITING = (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)


def moment(value: str) -> datetime | None:
    """A time from a form: a date (midnight UTC) or a date and time; None when blank or unreadable."""
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    except ValueError:  # well-formed but impossible, like 2026-02-30
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = make_aware(parsed)
    return parsed


@login_required
@require_GET
@permission_required("audit.view_event", raise_exception=True)
def trail(request: HttpRequest) -> HttpResponse:
    """Search, newest first, a page at a time by id (no count of millions of rows). While an export is being
    written, the list of exports refreshes itself (``?part=exports``), never the search or export form."""
    jobs = _export_jobs(request)
    exports = {"jobs": jobs, "waiting": any(job.status in WAITING for job in jobs)}
    if request.GET.get("part") == "exports":
        return render(request, "audit/_exports.html", exports)
    filters = {name: request.GET.get(name, "").strip()[:64] for name in FILTERS}
    for name in ("since", "until"):
        if filters[name] and moment(filters[name]) is None:
            messages.error(request, f"{filters[name]!r} is not a date: give one like 2026-11-01. It was left out.")
            filters[name] = ""
    actions = action_filter_choices()
    if filters["action"] and filters["action"] not in dict(actions):
        messages.error(
            request,
            f"{filters['action']!r} is not an action the trail records: pick one from the list, or a prefix such as "
            "grant. It was left out.",
        )
        filters["action"] = ""
    events = event_list(
        partner=filters["partner"],
        action=filters["action"],
        actor=filters["actor"],
        outcome=filters["outcome"],
        since=moment(filters["since"]),
        until=moment(filters["until"]),
    )
    before = request.GET.get("before", "")
    paged = is_whole_number(before)
    if paged:
        events = events.filter(id__lt=int(before))
    page = list(events[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].id if len(page) > PAGE_SIZE else None
    query = urlencode({name: value for name, value in filters.items() if value})
    shown = page[:PAGE_SIZE]
    targets = targets_named(shown, viewer=request.user)
    named = details_named(shown, viewer=request.user)
    return render(
        request,
        "audit/trail.html",
        {
            "events": shown,
            "rows": [
                {
                    "event": event,
                    "target": targets.get((event.target_type, event.target_id)),
                    "details": entries(event.details, named),
                }
                for event in shown
            ],
            "filters": filters,
            "older": older,
            "query": query,
            "paged": paged,
            "outcomes": Event.Outcome.choices,
            "actions": actions,
            **exports,
        },
    )


def _export_jobs(request: HttpRequest) -> list[ExportJob]:
    """The asker's five newest exports, each with its manifest once written."""
    jobs = list(ExportJob.objects.filter(requested_by=str(request.user.pk))[:5])
    manifests = dict(ExportFile.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "manifest"))
    for job in jobs:
        job.manifest = manifests.get(job.pk)  # type: ignore[attr-defined]
    return jobs


@login_required
@require_POST
@permission_required("audit.view_event", raise_exception=True)
def export_create(request: HttpRequest) -> HttpResponse:
    fmt = request.POST.get("format", "jsonl")
    times = {name: request.POST.get(name, "").strip() for name in ("since", "until")}
    unreadable = [value for value in times.values() if value and moment(value) is None]
    if unreadable:
        messages.error(request, f"{unreadable[0]!r} is not a date: give one like 2026-11-01. Nothing was exported.")
        return redirect("audit:trail")
    try:
        exports.export_queue(
            by=actor_of(request.user),
            requested_by=str(request.user.pk),
            scope=request.POST.get("partner", "").strip() or None,
            fmt=fmt,
            since=moment(times["since"]),
            until=moment(times["until"]),
        )
    except exports.ExportError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Export queued: a worker writes it, and it appears below with its manifest.")
    return redirect("audit:trail")


@login_required
@require_GET
def export_download(request: HttpRequest, pk: uuid.UUID, part: str) -> FileResponse:
    path = exports.export_file(export_get_for_user(request.user, pk), part)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
