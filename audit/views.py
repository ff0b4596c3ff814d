from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.selectors import event_list

PAGE_SIZE = 50


@login_required
@permission_required("audit.view_event", raise_exception=True)
def trail(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip()[:64] for name in ("partner", "action", "actor")}
    page = Paginator(event_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/trail.html", {"page": page, "filters": filters})
