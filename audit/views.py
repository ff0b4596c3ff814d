from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware
from django.views.decorators.http import require_GET, require_POST

from audit import exports
from audit.access import trail_scope
from audit.models import Event, ExportFile
from audit.selectors import event_list
from audit.trail import Actor

PAGE_SIZE = 50
FILTERS = ("partner", "action", "actor", "outcome", "since", "until")


def moment(value: str) -> datetime | None:
    """A time from a form: a date (midnight UTC) or a date and time; None when blank or unreadable."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    if parsed is not None and parsed.tzinfo is None:
        parsed = make_aware(parsed)
    return parsed


def _actor(request: HttpRequest) -> Actor:
    user: Any = request.user
    return Actor(type=Event.ActorType.USER, id=str(user.pk), label=user.get_username())


@login_required
@require_GET
@permission_required("audit.view_event", raise_exception=True)
def trail(request: HttpRequest) -> HttpResponse:
    """Search, newest first, a page at a time by id (no count of millions of rows)."""
    filters = {name: request.GET.get(name, "").strip()[:64] for name in FILTERS}
    events = event_list(
        partner=filters["partner"],
        action=filters["action"],
        actor=filters["actor"],
        outcome=filters["outcome"],
        since=moment(filters["since"]),
        until=moment(filters["until"]),
    )
    before = request.GET.get("before", "")
    if before.isdigit():
        events = events.filter(id__lt=int(before))
    page = list(events[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].id if len(page) > PAGE_SIZE else None
    query = urlencode({name: value for name, value in filters.items() if value})
    return render(
        request,
        "audit/trail.html",
        {
            "events": page[:PAGE_SIZE],
            "filters": filters,
            "older": older,
            "query": query,
            "paged": before.isdigit(),
            "outcomes": Event.Outcome.choices,
            "exports": ExportFile.objects.filter(requested_by=str(request.user.pk))[:5],
        },
    )


@login_required
@require_POST
@permission_required("audit.view_event", raise_exception=True)
def export_create(request: HttpRequest) -> HttpResponse:
    fmt = request.POST.get("format", "jsonl")
    try:
        export = exports.export_for(
            by=_actor(request),
            requested_by=str(request.user.pk),
            scope=request.POST.get("partner", "").strip() or None,
            fmt=fmt if fmt in ("jsonl", "csv") else "jsonl",
            since=moment(request.POST.get("since", "").strip()),
            until=moment(request.POST.get("until", "").strip()),
        )
    except exports.ExportError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Exported {export.manifest['count']:,} events (chain_seq {export.manifest['first_seq']} to "
            f"{export.manifest['last_seq']}). Download the file and its manifest below.",
        )
    return redirect("audit:trail")


@login_required
@require_GET
def export_download(request: HttpRequest, pk: uuid.UUID, part: str) -> FileResponse:
    scope = trail_scope(request.user)
    export = ExportFile.objects.filter(pk=pk).first()
    if export is None or part not in ("file", "manifest") or (scope is not None and export.partner != scope):
        raise Http404("No such export.")
    path = exports.export_file(export, part)
    if not path.exists():
        raise Http404("This export's file is no longer on the server; export again.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
