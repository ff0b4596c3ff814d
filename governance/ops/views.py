"""The start page and the health check."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import partners_visible_to
from accounts.models import User
from charters.access import assets_visible_to, can_register_assets
from governance.ops.attention import officer_attention
from governance.ops.health import health_report, operations_health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The host's staff: what needs them now, and the background work's health. A partner's people: their
    partner's assets (their portal is the partner pages)."""
    user = cast(User, request.user)
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
