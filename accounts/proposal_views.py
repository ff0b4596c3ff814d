"""Proposal pages: what waits for a second officer, one proposal with exactly what confirming does, and the two
answers to it. The pages that offer an irreversible act propose it through ``propose``."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import proposals
from accounts.access import request_user, user_who_may
from accounts.models import Proposal
from accounts.operations import Operation, may
from accounts.services import actor_for
from accounts.stepup import step_up_required


def propose(request: HttpRequest, *, kind: str, target: str, back: str, expected_check: str = "") -> HttpResponse:
    """Make the proposal a page's form asks for, then show it; back to ``back`` (a path) with the reason when it
    cannot be made."""
    user = user_who_may(request, Operation.PROPOSAL)
    try:
        proposal = proposals.proposal_make(
            kind=kind,
            target=target,
            reason=request.POST.get("reason", ""),
            expected_check=expected_check,
            by=actor_for(user),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    messages.success(
        request,
        f"Proposed. Nothing happens until another officer confirms it, within {settings.ACCORD_PROPOSAL_HOURS} hours.",
    )
    return redirect("proposals:proposal-detail", pk=proposal.pk)


@login_required
@require_GET
def proposal_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    proposals.proposals_lapse()
    waiting = proposals.proposals_waiting_for(user)
    rest = proposals.proposals_visible_to(user).exclude(pk__in=waiting.values("pk"))
    page = Paginator(rest, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/proposal_list.html", {"waiting": waiting, "page": page})


@login_required
@require_GET
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    proposals.proposals_lapse()
    proposal = get_object_or_404(proposals.proposals_visible_to(user), pk=pk)
    spec = proposals.KINDS.get(proposal.kind)
    may_answer = spec is not None and may(user, spec.operation) and proposal.is_open()
    context = {
        "proposal": proposal,
        "can_confirm": may_answer and proposal.proposed_by_id != user.pk,
        "can_withdraw": may_answer,
        "own": proposal.proposed_by_id == user.pk,
        "now": timezone.now(),
    }
    return render(request, "accounts/proposal_detail.html", context)


@login_required
@require_POST
@step_up_required
def proposal_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    proposal = get_object_or_404(proposals.proposals_visible_to(user), pk=pk)
    try:
        proposal = proposals.proposal_confirm(proposal=proposal, by=actor_for(user))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("proposals:proposal-detail", pk=pk)
    if proposal.status == Proposal.Status.CARRIED_OUT:
        messages.success(request, proposal.outcome)
        return redirect(proposal.result_url or "proposals:proposal-list")
    messages.error(request, f"Nothing was done: {proposal.outcome}")
    return redirect("proposals:proposal-detail", pk=pk)


@login_required
@require_POST
def proposal_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    proposal = get_object_or_404(proposals.proposals_visible_to(user), pk=pk)
    try:
        proposals.proposal_withdraw(proposal=proposal, by=actor_for(user), reason=request.POST.get("reason", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The proposal is withdrawn: nothing was done.")
    return redirect("proposals:proposal-detail", pk=pk)
