"""The usage page: decision volume and deny rate over time, and deny reasons, charted from the roll-up, with the
numbers as a table and a CSV one click away."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import partners_visible_to, request_user
from governance import access
from governance.models import Grant
from governance.usage.selectors import Point, quotas_nearest_limits, usage_rows, usage_series
from governance.usage.services import Interval

# The spans a person picks, and the interval each is counted in (about a hundred points at most).
SPANS = {
    "24h": (timedelta(hours=24), Interval.HOUR),
    "7d": (timedelta(days=7), Interval.HOUR),
    "30d": (timedelta(days=30), Interval.DAY),
}


@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    span = request.GET.get("span", "24h")
    if span not in SPANS:
        messages.error(request, f"{span!r} is not a span: pick 24h, 7d or 30d. Showing the last 24 hours.")
        span = "24h"
    length, interval = SPANS[span]
    until = timezone.now()
    partners = partners_visible_to(user).order_by("name")
    partner = request.GET.get("partner", "").strip()
    grant = None
    if request.GET.get("grant", "").isdigit():
        grant = access.grants_visible_to(user).filter(pk=int(request.GET["grant"])).first()
        if grant is None:
            messages.error(request, "No such grant among those you can see: showing every grant.")
    rows = usage_rows(user, partner=partner, grant_id=grant.pk if grant else None)
    series = usage_series(rows, interval=interval, since=until - length, until=until)
    if request.GET.get("format") == "csv":
        return _csv(series, span)
    reasons: dict[str, int] = {}
    for point in series:
        for code, count in point.denied_by_code.items():
            reasons[code] = reasons.get(code, 0) + count
    chart = {
        "labels": [
            point.start.strftime("%Y-%m-%d %H:%M" if interval == Interval.HOUR else "%Y-%m-%d") for point in series
        ],
        "allowed": [point.allowed for point in series],
        "denied": [point.denied for point in series],
        "deny_rate": [point.deny_rate for point in series],
        "reasons": sorted(reasons.items(), key=lambda item: -item[1]),
    }
    quotas = [] if grant else quotas_nearest_limits(user, now=until, partner=partner)
    chart["quotas"] = {
        "labels": [f"#{use.grant.pk} {_holder(use.grant)}" for use in quotas],
        "today": [round(use.day_share * 100, 1) for use in quotas],
        "month": [None if use.month_share is None else round(use.month_share * 100, 1) for use in quotas],
    }
    return render(
        request,
        "governance/usage.html",
        {
            "series": series,
            "chart": chart,
            "reasons": chart["reasons"],
            "span": span,
            "spans": list(SPANS),
            "partners": partners,
            "partner": partner,
            "grant": grant,
            "quotas": quotas,
            "quotas_exact": all(use.exact for use in quotas),
            "totals": {"allowed": sum(point.allowed for point in series), "denied": sum(p.denied for p in series)},
        },
    )


def _holder(grant: Grant) -> str:
    holder = (
        grant.principal.username if grant.principal else f"role {grant.partner_role.slug if grant.partner_role else ''}"
    )
    return f"{holder} ({grant.partner.slug})"


def _csv(series: list[Point], span: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="accord-usage-{span}.csv"'
    writer = csv.writer(response)
    writer.writerow(["start", "allowed", "denied", "deny_rate", "denied_by_code"])
    for point in series:
        codes = " ".join(f"{code}={count}" for code, count in sorted(point.denied_by_code.items()))
        writer.writerow([point.start.isoformat(), point.allowed, point.denied, point.deny_rate or "", codes])
    return response
