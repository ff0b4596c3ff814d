"""The start page, the health check and the timeliness charts."""

from __future__ import annotations

import csv
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import partners_visible_to
from accounts.models import User
from charters.access import assets_visible_to, can_register_assets
from governance.ops import timeliness
from governance.ops.attention import officer_attention
from governance.ops.health import health_report, operations_health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The host's staff: what needs them now, and the background work's health. A partner's admins: their
    portal."""
    user = cast(User, request.user)
    if user.is_partner_admin:
        return redirect("portal")
    context = {
        "partners": partners_visible_to(user),
        "assets": assets_visible_to(user).prefetch_related("versions"),
        "can_register_assets": can_register_assets(user),
    }
    if user.is_host_member:
        live = {"sections": officer_attention(user), "health": operations_health()}
        if getattr(request, "htmx", False):  # the page refreshing itself: only the part that changes
            return render(request, "governance/_officer_live.html", live)
        return render(request, "governance/officer_home.html", {**context, **live})
    return render(request, "governance/home.html", context)


SPANS_IN_MONTHS = {"3m": 3, "6m": 6, "12m": 12}
TIMELINESS_TITLES = {
    "reviews": "Review items answered by the deadline",
    "steps": "Incident steps done by their due time",
}


@require_GET
def timeliness_page(request: HttpRequest) -> HttpResponse:
    """Whether review deadlines and incident clocks were kept, month by month, charted with the numbers beside."""
    user = cast(User, request.user)
    span = request.GET.get("span", "6m")
    if span not in SPANS_IN_MONTHS:
        messages.error(request, f"{span!r} is not a span: pick 3m, 6m or 12m. Showing the last 6 months.")
        span = "6m"
    partner = request.GET.get("partner", "").strip()
    drills = request.GET.get("drills") == "on"
    now, months = timezone.now(), SPANS_IN_MONTHS[span]
    tables = {
        "reviews": (timeliness.REVIEW_STATES, timeliness.review_timeliness(now=now, months=months, partner=partner)),
        "steps": (
            timeliness.STEP_STATES,
            timeliness.step_timeliness(now=now, months=months, partner=partner, drills=drills),
        ),
    }
    if request.GET.get("format") == "csv":
        return _timeliness_csv(tables, span)
    charts = {
        name: {
            "labels": [month.start.strftime("%b %Y") for month in series],
            "states": [[label, [month.counts.get(state, 0) for month in series]] for state, label in states.items()],
        }
        for name, (states, series) in tables.items()
    }
    return render(
        request,
        "governance/timeliness.html",
        {
            "tables": {
                name: {
                    "title": TIMELINESS_TITLES[name],
                    "labels": list(states.values()),
                    "rows": [
                        (month.start, [month.counts.get(state, 0) for state in states], month.on_time_share)
                        for month in series
                    ],
                }
                for name, (states, series) in tables.items()
            },
            "charts": charts,
            "span": span,
            "spans": list(SPANS_IN_MONTHS),
            "partners": partners_visible_to(user).order_by("name"),
            "partner": partner,
            "drills": drills,
        },
    )


def _timeliness_csv(tables: dict[str, tuple[dict[str, str], list[timeliness.Month]]], span: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="accord-timeliness-{span}.csv"'
    writer = csv.writer(response)
    writer.writerow(["kind", "month", *timeliness.STATES, "on_time_share"])
    for name, (_, series) in tables.items():
        for month in series:
            counts = [month.counts.get(state, 0) for state in timeliness.STATES]
            share = month.on_time_share
            writer.writerow([name, month.start.strftime("%Y-%m"), *counts, "" if share is None else share])
    return response
