from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accord.validation import errors_on
from accounts.access import request_user
from accounts.services import actor_for
from charters import access, services
from charters.forms import AssetForm, AssetVersionForm


@login_required
def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    asset = access.asset_get_for_user(user, pk)
    return render(
        request,
        "charters/asset_detail.html",
        {"asset": asset, "versions": asset.versions.all(), "can_register": access.can_register_assets(user)},
    )


@login_required
def asset_register(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not access.can_register_assets(user):
        raise PermissionDenied("Only governance officers register assets.")
    form = AssetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            asset = services.asset_register(**form.cleaned_data, by=actor_for(user))
        if form.is_valid():
            messages.success(request, f"Asset {asset.name} is registered. Add its first version below.")
            return redirect("charters:asset-detail", pk=asset.pk)
    return render(request, "charters/asset_form.html", {"form": form})


@login_required
def asset_version_register(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    asset = access.asset_get_for_user(user, pk)
    if not access.can_register_assets(user):
        raise PermissionDenied("Only governance officers register asset versions.")
    form = AssetVersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            version = services.asset_version_register(asset=asset, **form.cleaned_data, by=actor_for(user))
        if form.is_valid():
            messages.success(request, f"Version {version.label} of {asset.name} is registered.")
            return redirect("charters:asset-detail", pk=asset.pk)
    return render(request, "charters/asset_version_form.html", {"form": form, "asset": asset})
