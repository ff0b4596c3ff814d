"""Exit pages: confirm and start an exit, follow its progress, cancel a destruction in its grace period, read
certificates; and the artefact store's page."""

from __future__ import annotations

import hashlib
import json
from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accord.validation import errors_on
from accounts.access import officer_required, request_user
from accounts.models import Partner, User
from accounts.services import actor_for
from audit import chain
from charters.access import charter_get_for_user
from charters.models import AssetVersion
from governance import access
from governance.models import Artefact, DataKey, Exit, ExitItem
from governance.services import artefacts, destruction, exits


def _officer(request: HttpRequest) -> User:
    return officer_required(request, "Only governance officers run exits and destructions.")


def _json_download(content: object, filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(content, indent=2, sort_keys=True), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def exit_start(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what the exit plan will do, line by line. POST: terminate the charter and start it."""
    user = _officer(request)
    charter = charter_get_for_user(user, slug)
    if request.method == "POST":
        try:
            exit_ = exits.exit_start(charter=charter, by=actor_for(user), reason=request.POST.get("reason", ""))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("exit-start", slug=slug)
        messages.success(request, f"Charter {slug} is terminated and its exit has started.")
        return redirect("exit-detail", pk=exit_.pk)
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
            "blockers": exits.exit_blockers(exit_) if exit_.status != Exit.Status.CLOSED else [],
            "certificates": exit_.certificates.select_related("data_key").order_by("number"),
            "attestation": getattr(exit_, "attestation", None),
            "can_act": user.is_officer,
        },
    )


@login_required
@require_POST
def exit_item_migrated(request: HttpRequest, pk: int, item: int) -> HttpResponse:
    user = _officer(request)
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
    report = exit_.report if final else exits.exit_report(exit_)
    suffix = "" if final else "-draft"
    return _json_download({"final": final, "report": report}, f"exit-{exit_.charter.slug}{suffix}.json")


@login_required
@require_POST
def key_cancel(request: HttpRequest, key_id: str) -> HttpResponse:
    user = _officer(request)
    data_key = get_object_or_404(DataKey, key_id=key_id)
    try:
        destruction.destruction_cancel(data_key=data_key, by=actor_for(user), reason=request.POST.get("reason", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The destruction of data key {key_id} is cancelled; its files are kept.")
    if data_key.exit_item_id is not None:
        return redirect("exit-detail", pk=ExitItem.objects.get(pk=data_key.exit_item_id).exit_id)
    return redirect("artefact-list")


@login_required
@require_POST
def key_destroy(request: HttpRequest, key_id: str) -> HttpResponse:
    user = _officer(request)
    data_key = get_object_or_404(DataKey, key_id=key_id)
    try:
        destruction.destruction_schedule(data_key=data_key, by=actor_for(user), reason=request.POST.get("reason", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"Data key {key_id} will be destroyed after {data_key.destroy_after:%Y-%m-%d %H:%M} UTC."
        )
    return redirect("artefact-list")


@login_required
@require_GET
def certificate_detail(request: HttpRequest, number: str) -> HttpResponse:
    certificate = access.certificate_get_for_user(request_user(request), number)
    if request.GET.get("format") == "json":
        return _json_download(
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
        },
    )


# --- The artefact store -----------------------------------------------------------------------------------------


class ArtefactForm(forms.Form):
    file = forms.FileField()
    asset_version = forms.ModelChoiceField(
        AssetVersion.objects.select_related("asset"), required=False, help_text="Required for an asset file."
    )
    kind = forms.ChoiceField(choices=Artefact.Kind.choices)
    partner = forms.ModelChoiceField(
        Partner.objects.all(), required=False, help_text="Who it is produced for (not for an asset file)."
    )


@login_required
@require_http_methods(["GET", "POST"])
def artefact_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not user.is_host_member:
        raise PermissionDenied("The artefact store is for the host's officers and auditors.")
    form = ArtefactForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _officer(request)
        if form.is_valid():
            upload = cast(UploadedFile, form.cleaned_data["file"])
            with errors_on(form):
                artefact = artefacts.artefact_store(
                    source=upload,
                    name=upload.name or "upload",
                    kind=form.cleaned_data["kind"],
                    asset_version=form.cleaned_data["asset_version"],
                    partner=form.cleaned_data["partner"],
                    by=actor_for(user),
                )
            if form.is_valid():
                messages.success(request, f"{artefact.name} is stored, encrypted under key {artefact.data_key.key_id}.")
                return redirect("artefact-list")
    stored = Artefact.objects.select_related("data_key__certificate", "asset_version__asset", "partner")
    page = Paginator(stored, 50).get_page(request.GET.get("page"))
    return render(request, "governance/artefact_list.html", {"page": page, "form": form, "can_act": user.is_officer})


@login_required
@require_GET
def artefact_download(request: HttpRequest, uid: str) -> HttpResponse | StreamingHttpResponse:
    _officer(request)
    artefact = get_object_or_404(Artefact.objects.select_related("data_key"), uid=uid)
    try:
        chunks = artefacts.artefact_read(artefact)
    except artefacts.KeyDestroyedError as error:
        return render(
            request, "governance/artefact_gone.html", {"artefact": artefact, "reason": str(error)}, status=410
        )
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=artefact.name)
    response["Content-Length"] = str(artefact.size_bytes)
    return response
