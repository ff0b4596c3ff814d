"""What-if pages: the runs, and one run's progress and report."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accord.validation import is_whole_number
from accounts.access import request_user
from accounts.services import actor_for
from charters.models import CharterVersion
from governance.models import Grant, WhatIfRun
from governance.whatif import selectors as whatif_selectors
from governance.whatif import services as whatif_services
from governance.whatif.forms import WhatIfForm

# A queued run not started after this long suggests that no worker is running.
WORKER_PATIENCE_SECONDS = 30


@login_required
def whatif_list(request: HttpRequest) -> HttpResponse:
    """GET: the what-if runs (of one version with ?version=). POST: queue a run and show its page."""
    user = request_user(request)
    if request.method == "POST":
        form = WhatIfForm(request.POST)
        version = grant = None
        if form.is_valid():
            data = form.cleaned_data
            version = CharterVersion.objects.select_related("charter").filter(pk=data["version"]).first()
            grant = Grant.objects.select_related("asset_version__asset").filter(pk=data["grant"]).first()
            try:
                run = whatif_services.whatif_request(
                    by=actor_for(user), days=data["days"], version=version, grant=grant
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                return redirect("whatif-detail", pk=run.pk)
        else:
            messages.error(request, " ".join(str(message) for errors in form.errors.values() for message in errors))
        # Back to where the change is shown.
        if version is not None:
            return redirect("charters:version-detail", slug=version.charter.slug, number=version.number)
        return redirect("grant-list" if grant is not None else "whatif-list")
    version_id = int(request.GET["version"]) if is_whole_number(request.GET.get("version", "")) else None
    page = Paginator(whatif_selectors.whatif_runs(version_id=version_id), 50).get_page(request.GET.get("page"))
    return render(request, "governance/whatif_list.html", {"page": page})


@login_required
@require_GET
def whatif_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # What-if reports read every partner's decisions: the matrix admits the host's staff only.
    run = get_object_or_404(whatif_selectors.whatif_runs(), pk=pk)
    report = whatif_services.Report.from_json(run.report) if run.report else None
    waited = (timezone.now() - run.requested_at).total_seconds()
    no_worker = run.status == WhatIfRun.Status.QUEUED and waited > WORKER_PATIENCE_SECONDS
    return render(request, "governance/whatif_detail.html", {"run": run, "report": report, "no_worker": no_worker})
