"""Exit pages: confirm and start an exit, follow its progress, download its report. Two of the vault's actions are
served here because exits reach into them and the vault knows nothing of exits: cancelling a destruction (which
may settle an exit's line) and a certificate of destruction (which partner admins reach through their exit)."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accord.downloads import json_attachment
from accounts.access import request_user, user_who_may
from accounts.models import Proposal, User
from accounts.operations import Operation, may
from accounts.proposal_views import propose
from accounts.services import actor_for
from audit import chain
from charters.access import charter_get_for_user
from charters.vocabulary import Disposition
from governance import access
from governance.exits import selectors as exit_selectors
from governance.exits import services as exits
from governance.models import DataKey, Exit, ExitItem
from governance.vault import destruction


@login_required
@require_http_methods(["GET", "POST"])
def exit_start(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what the exit plan will do, line by line. POST: propose ending the charter by it, for a second officer
    to confirm."""
    user = user_who_may(request, Operation.EXIT_START)
    charter = charter_get_for_user(user, slug)
    if request.method == "POST":
        back = reverse("exit-start", kwargs={"slug": charter.slug})
        return propose(request, kind=Proposal.Kind.CHARTER_END, target=charter.slug, back=back)
    existing = Exit.objects.filter(charter=charter).first()
    if existing is not None:
        return redirect("exit-detail", pk=existing.pk)
    try:
        planned = exits.exit_plan_resolve(charter)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("charters:charter-detail", slug=slug)
    return render(
        request,
        "governance/exit_start.html",
        {"charter": charter, "planned": planned, "grace_hours": destruction.grace().total_seconds() // 3600},
    )


@login_required
@require_GET
def exit_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    page = Paginator(access.exits_visible_to(user), 50).get_page(request.GET.get("page"))
    return render(request, "governance/exit_list.html", {"page": page})


@login_required
@require_GET
def exit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    exit_ = access.exit_get_for_user(user, pk)
    items = exit_.items.select_related("asset_version__asset").prefetch_related("keys__certificate")
    return render(
        request,
        "governance/exit_detail.html",
        {
            "exit": exit_,
            "items": items,
            "blockers": exit_selectors.exit_blockers(exit_) if exit_.status != Exit.Status.CLOSED else [],
            "certificates": exit_selectors.exit_certificates(exit_).select_related("data_key").order_by("number"),
            "attestation": getattr(exit_, "attestation", None),
            "can_act": may(user, Operation.EXIT_CONFIRM),
            "to_attest": _to_attest(user, exit_),
        },
    )


def _to_attest(user: User, exit_: Exit) -> list[ExitItem]:
    """The destroy lines the partner's admin attests on this page, when the exit waits for that from them."""
    if not may(user, Operation.EXIT_ATTEST) or not exit_selectors.attestation_wanted(exit_):
        return []
    return list(
        exit_.items.filter(disposition=Disposition.DESTROY, asset_version__isnull=False).select_related(
            "asset_version__asset"
        )
    )


@login_required
@require_POST
def exit_attest(request: HttpRequest, pk: int) -> HttpResponse:
    """The partner's admin attests that the partner destroyed its copies (the same service as the API's)."""
    user = user_who_may(request, Operation.EXIT_ATTEST)
    exit_ = access.exit_get_for_user(user, pk)
    try:
        exits.exit_attest(
            exit_=exit_,
            statement=request.POST.get("statement", ""),
            method=request.POST.get("method", ""),
            destroyed=request.POST.getlist("destroyed"),
            by=actor_for(user),
        )
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    else:
        messages.success(request, "Destruction attested: the host's officers see it, and the exit can close.")
    return redirect("exit-detail", pk=pk)


@login_required
@require_POST
def exit_item_migrated(request: HttpRequest, pk: int, item: int) -> HttpResponse:
    user = user_who_may(request, Operation.EXIT_CONFIRM)
    exit_ = access.exit_get_for_user(user, pk)
    line = get_object_or_404(ExitItem, exit=exit_, pk=item)
    try:
        exits.exit_migration_confirm(item=line, by=actor_for(user), note=request.POST.get("note", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{line.subject}: migration confirmed.")
    return redirect("exit-detail", pk=pk)


@login_required
@require_GET
def exit_report(request: HttpRequest, pk: int) -> HttpResponse:
    exit_ = access.exit_get_for_user(request_user(request), pk)
    final = exit_.status == Exit.Status.CLOSED
    report = exit_.report if final else exit_selectors.exit_report(exit_)
    suffix = "" if final else "-draft"
    return json_attachment({"final": final, "report": report}, f"exit-{exit_.charter.slug}{suffix}.json")


@login_required
@require_POST
def key_cancel(request: HttpRequest, key_id: str) -> HttpResponse:
    """Keep a key whose destruction is scheduled: from the artefact store, or from the exit whose line scheduled it,
    which the officer is taken back to."""
    user = user_who_may(request, Operation.KEY_DESTROY)
    data_key = get_object_or_404(DataKey, key_id=key_id)
    try:
        exits.exit_destruction_cancel(data_key=data_key, by=actor_for(user), reason=request.POST.get("reason", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The destruction of data key {key_id} is cancelled; its files are kept.")
    item = exit_selectors.exit_item_of_key(data_key)
    if item is not None:
        return redirect("exit-detail", pk=item.exit_id)
    return redirect("artefact-list")


@login_required
@require_GET
def certificate_detail(request: HttpRequest, number: str) -> HttpResponse:
    certificate = access.certificate_get_for_user(request_user(request), number)
    if request.GET.get("format") == "json":
        return json_attachment(
            {
                "document": certificate.document,
                "signature": certificate.signature,
                "signing_key_id": certificate.signing_key_id,
            },
            f"certificate-{certificate.number}.json",
        )
    return render(
        request,
        "governance/certificate_detail.html",
        {
            "certificate": certificate,
            "document": certificate.document,
            "valid": destruction.certificate_valid(certificate),
            "canonical_sha256": hashlib.sha256(chain.canonical(certificate.document)).hexdigest(),
            "exit": exit_selectors.certificate_exit(certificate),
        },
    )
