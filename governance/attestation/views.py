"""The measurement allow-lists' pages: the lists (and a new one), a list's entries now or at a version, with its
history and the charters that name it, adding an entry and removing one.

The matrix lets the host's staff read these pages and only officers post to them (accounts/matrix.py); partner
people never reach them. A refused change shows the page again with the service's message, as a 400."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accord.validation import errors_on, is_whole_number
from accounts.access import request_user
from accounts.models import User
from governance.attestation import measurements
from governance.attestation.forms import MeasurementAddForm, MeasurementListForm, MeasurementRemoveForm
from governance.models import Measurement, MeasurementList

BAD_INPUT = 400


def _may_change(user: User) -> bool:
    return user.is_officer


@login_required
@require_http_methods(["GET", "POST"])
def measurement_lists(request: HttpRequest) -> HttpResponse:
    """GET: every list with its version and how many entries it holds. POST (officers): a new list."""
    user = request_user(request)
    form = MeasurementListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            allow_list = measurements.measurement_list_create(
                officer=user, name=form.cleaned_data["name"], title=form.cleaned_data["title"]
            )
        if form.is_valid():
            messages.success(request, f"Measurement list {allow_list.name} is created, at version 1, with no entries.")
            return redirect("measurement-list", name=allow_list.name)
    return render(
        request,
        "governance/measurements/list_index.html",
        {"lists": measurements.measurement_lists(), "form": form, "can_change": _may_change(user)},
        status=BAD_INPUT if form.errors else 200,
    )


def _version_asked(request: HttpRequest, allow_list: MeasurementList) -> int | None:
    asked = request.GET.get("version", "")
    if not asked:
        return None
    if not is_whole_number(asked) or not 1 <= int(asked) <= allow_list.version:
        raise BadRequest(
            f"List {allow_list.name} has versions 1 to {allow_list.version}; there is no version {asked[:20]!r}."
        )
    return int(asked)


def _detail(
    request: HttpRequest,
    allow_list: MeasurementList,
    *,
    add_form: MeasurementAddForm | None = None,
    removing: tuple[int, MeasurementRemoveForm] | None = None,
) -> HttpResponse:
    user = request_user(request)
    version = _version_asked(request, allow_list) if request.method == "GET" else None
    add_form = add_form or MeasurementAddForm()
    failed = bool(add_form.errors) or (removing is not None and bool(removing[1].errors))
    context: dict[str, Any] = {
        "allow_list": allow_list,
        "version": version,
        "entries": measurements.measurement_entries(allow_list, version=version),
        "history": measurements.measurement_history(allow_list),
        "charters": measurements.charters_naming(allow_list.name),
        "add_form": add_form,
        "removing": removing,
        "can_change": _may_change(user) and version is None,
    }
    return render(request, "governance/measurements/list_detail.html", context, status=BAD_INPUT if failed else 200)


@login_required
@require_http_methods(["GET", "POST"])
def measurement_list(request: HttpRequest, name: str) -> HttpResponse:
    """GET: the list's entries (at ``?version=N``: as they stood then), its history and the charters naming it.
    POST (officers): a measurement to add."""
    allow_list = get_object_or_404(MeasurementList, name=name)
    if request.method == "GET":
        return _detail(request, allow_list)
    form = MeasurementAddForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            entry = measurements.measurement_add(
                officer=request_user(request),
                allow_list=allow_list,
                platform=form.cleaned_data["platform"],
                values=form.values(),
                note=form.cleaned_data["note"],
            )
        if form.is_valid():
            messages.success(
                request,
                f"Entry #{entry.pk} ({entry.get_platform_display()}) is on {allow_list.name}, "
                f"in version {entry.added_in}.",
            )
            return redirect("measurement-list", name=allow_list.name)
    allow_list.refresh_from_db()
    return _detail(request, allow_list, add_form=form)


@login_required
@require_POST
def measurement_remove(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    """Take an entry off the list, with the officer's reason."""
    allow_list = get_object_or_404(MeasurementList, name=name)
    entry = get_object_or_404(Measurement.objects.select_related("allow_list"), allow_list=allow_list, pk=pk)
    form = MeasurementRemoveForm(request.POST)
    if form.is_valid():
        try:
            removed = measurements.measurement_remove(
                officer=request_user(request), entry=entry, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"Entry #{removed.pk} is off {allow_list.name}, in version {removed.removed_in}.")
            return redirect("measurement-list", name=allow_list.name)
    allow_list.refresh_from_db()
    return _detail(request, allow_list, removing=(entry.pk, form))
