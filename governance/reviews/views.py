"""The access review pages: the reviews, one review's items and their answers, and its report."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accord.validation import is_whole_number
from accounts.access import request_user, user_who_may
from accounts.models import User
from accounts.operations import Operation, may
from accounts.services import actor_for
from charters.models import Charter
from governance.models import ReviewCampaign
from governance.reviews import selectors as review_selectors
from governance.reviews import services as review_services


def _reader(request: HttpRequest) -> User:
    return request_user(request)


def _reviewer(request: HttpRequest) -> User:
    _reader(request)
    return user_who_may(request, Operation.REVIEW_ANSWER)


@login_required
def review_list(request: HttpRequest) -> HttpResponse:
    """GET: the reviews, newest first. POST: start one on demand for a charter."""
    user = _reader(request)
    if request.method == "POST":
        charter = (
            Charter.objects.select_related("active_version", "partner")
            .filter(slug=request.POST.get("charter", ""))
            .first()
        )
        if charter is None:
            messages.error(request, "Choose a charter to review.")
        else:
            try:
                campaign = review_services.review_start(charter=charter, by=actor_for(user))
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                return redirect("review-detail", pk=campaign.pk)
        return redirect("review-list")
    page = Paginator(review_selectors.reviews_with_counts(), 50).get_page(request.GET.get("page"))
    charters = Charter.objects.filter(status=Charter.Status.ACTIVE).order_by("slug")
    return render(request, "governance/review_list.html", {"page": page, "charters": charters})


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the items. POST: the same answer for the ticked items, with a justification."""
    user = _reviewer(request) if request.method == "POST" else _reader(request)
    campaign = get_object_or_404(ReviewCampaign.objects.select_related("charter"), pk=pk)
    if request.method == "POST":
        ids = [int(value) for value in request.POST.getlist("items") if is_whole_number(value)]
        try:
            answered = review_services.review_decide_bulk(
                campaign=campaign,
                item_ids=ids,
                decision=request.POST.get("decision", ""),
                justification=request.POST.get("justification", ""),
                by=actor_for(user),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            campaign.refresh_from_db(fields=["status"])
            closed = campaign.status == ReviewCampaign.Status.CLOSED
            closed_note = " Every item is answered: the review is closed." if closed else ""
            messages.success(request, f"{answered} item(s) answered.{closed_note}")
        return redirect("review-detail", pk=campaign.pk)
    rows = review_selectors.review_rows(campaign)
    is_open = campaign.status == ReviewCampaign.Status.OPEN
    answerable = is_open and campaign.deadline > timezone.now()
    waiting = [row for row in rows if not row.item.outcome]
    return render(
        request,
        "governance/review_detail.html",
        {
            "campaign": campaign,
            "rows": rows,
            "evidence_days": review_selectors.EVIDENCE_DAYS,
            "waiting": len(waiting),
            "answerable": answerable,
            # Only the items this officer may answer get a box: a bulk answer is all or nothing.
            "mine": {row.item.pk for row in waiting if row.item.reviewer_id == user.pk} if answerable else set(),
            "can_close": is_open and may(user, Operation.REVIEW_CLOSE),
        },
    )


@login_required
@require_POST
def review_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the review now, with a reason; its unanswered items are resolved as at the deadline."""
    user = _reader(request)
    campaign = get_object_or_404(ReviewCampaign.objects.select_related("charter"), pk=pk)
    try:
        campaign = review_services.review_close(
            campaign=campaign, reason=request.POST.get("reason", ""), by=actor_for(user)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Review #{campaign.pk} is closed. Items nobody answered were {campaign.unanswered}d, as at the "
            "deadline: their outcomes are below and in the report.",
        )
    return redirect("review-detail", pk=pk)


@login_required
@require_GET
def review_report(request: HttpRequest, pk: int) -> HttpResponse:
    _reader(request)
    campaign = get_object_or_404(ReviewCampaign.objects.select_related("charter"), pk=pk)
    response = HttpResponse(review_selectors.review_report(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="access-review-{campaign.pk}.csv"'
    return response
