"""Vault pages: the artefact store and scheduling a key's destruction. Cancelling one and a certificate's page are
exits' pages (governance.exits.views): a cancelled key may settle an exit's line, and partner admins reach the
certificates of what their exit destroyed."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accord.validation import errors_on
from accounts.access import request_user, user_who_may
from accounts.models import Partner, Proposal
from accounts.operations import Operation, may
from accounts.proposal_views import propose
from accounts.services import actor_for
from accounts.stepup import step_up_required
from charters.models import AssetVersion
from governance.models.vault import Artefact, DataKey
from governance.vault import artefacts, destruction
from governance.vault import selectors as vault_selectors


@login_required
@require_POST
@step_up_required
def key_destroy(request: HttpRequest, key_id: str) -> HttpResponse:
    user = user_who_may(request, Operation.KEY_DESTROY)
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
@require_POST
def key_destroy_now(request: HttpRequest, key_id: str) -> HttpResponse:
    """Propose destroying the key at once, before any grace period ends: a second officer confirms it."""
    user_who_may(request, Operation.KEY_DESTROY_NOW)
    data_key = get_object_or_404(DataKey, key_id=key_id)
    return propose(request, kind=Proposal.Kind.KEY_DESTROY_NOW, target=data_key.key_id, back=reverse("artefact-list"))


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
        user_who_may(request, Operation.ARTEFACT_STORE)
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
    page = Paginator(vault_selectors.artefacts_stored(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "governance/artefact_list.html",
        {"page": page, "form": form, "can_act": may(user, Operation.ARTEFACT_STORE)},
    )


@login_required
@require_GET
def artefact_download(request: HttpRequest, uid: str) -> HttpResponse | StreamingHttpResponse:
    # Reading plaintext is not an act of the table's: only officers read it (the matrix's OFFICER audience for
    # this address), auditors see that it is stored.
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
