"""Grant pages: the list and its decisions, a partner admin's request, a charter's termination."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accord.validation import errors_on, is_whole_number
from accounts.access import request_user, user_who_may
from accounts.models import Proposal
from accounts.operations import Operation, may
from accounts.proposal_views import propose
from accounts.services import actor_for
from charters.access import charter_get_for_user
from governance import access
from governance.grants import selectors as grant_selectors
from governance.grants import services as grant_services
from governance.grants.forms import GrantRequestForm, ReasonForm, grant_status_choices
from governance.grants.transitions import TRANSITIONS, grant_step


@login_required
def grant_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    # Officers open the list on what waits for them; "all" (or an empty choice) lists every status.
    status = request.GET.get("status", "requested" if access.can_decide_grants(user) else "all") or "all"
    statuses = dict(grant_status_choices())
    if status not in statuses:
        raise BadRequest(f"There is no grant status {status[:40]!r}. Choose one of: {', '.join(statuses)}.")
    grants = access.grants_visible_to(user)
    if is_whole_number(request.GET.get("grant", "")):
        # One grant, whatever its status (the explanation of a decision links it so).
        grants, status = grants.filter(pk=int(request.GET["grant"])), "all"
    elif status != "all":
        grants = grants.filter(status=status)
    return render(
        request,
        "governance/grant_list.html",
        {
            "grants": grants[:200],
            "status": status,
            "status_label": statuses[status],
            "statuses": statuses.items(),
            "can_decide": access.can_decide_grants(user),
            "can_request": may(user, Operation.GRANT_REQUEST),
        },
    )


@login_required
def grant_request(request: HttpRequest) -> HttpResponse:
    user = user_who_may(request, Operation.GRANT_REQUEST)
    principals, versions, purposes = grant_selectors.requestable_by(user)
    form = GrantRequestForm(request.POST or None, principals=principals, asset_versions=versions, purposes=purposes)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            grant = grant_services.grant_request(
                partner=access.partner_of(user), by=actor_for(user), **form.cleaned_data
            )
        if form.is_valid():
            messages.success(request, f"Grant #{grant.pk} requested. An officer reviews it.")
            return redirect("grant-list")
    return render(request, "governance/grant_request.html", {"form": form, "has_terms": bool(purposes)})


@login_required
@require_POST
def grant_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    user = request_user(request)
    grant = access.grant_get_for_user(user, pk)
    reason = ReasonForm(request.POST).data.get("reason", "")
    if transition not in TRANSITIONS:
        raise PermissionDenied(f"Unknown step {transition!r}.")
    try:
        done = grant_step(grant=grant, step=transition, by=actor_for(user), reason=reason)
    except ValidationError as error:
        messages.error(request, f"Grant #{grant.pk}: " + " ".join(error.messages))
    else:
        messages.success(request, f"Grant #{done.pk} is {done.get_status_display().lower()}.")
    # Back to the list as the officer had it (its filter), not to the default one.
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(back)
    return redirect("grant-list")


@login_required
@require_POST
def charter_terminate(request: HttpRequest, slug: str) -> HttpResponse:
    """Propose ending the charter (its exit, when it ever ran): a second officer confirms it."""
    charter = charter_get_for_user(request_user(request), slug)
    back = reverse("charters:charter-detail", kwargs={"slug": charter.slug})
    return propose(request, kind=Proposal.Kind.CHARTER_END, target=charter.slug, back=back)
