from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accord.validation import errors_on, is_whole_number
from accounts.access import host_member_required, partners_visible_to, request_user
from accounts.models import User
from accounts.roles import Role
from accounts.services import actor_for
from charters import documents
from charters.access import assets_visible_to, can_register_assets, charter_get_for_user
from charters.models import AssetVersion, Charter, CharterVersion
from governance import access
from governance.forms import GrantRequestForm, ReasonForm, WhatIfForm, grant_status_choices
from governance.models import Grant, PolicyBundle, WhatIfRun
from governance.services import bundles as bundle_services
from governance.services import exits
from governance.services import explain as explain_services
from governance.services import grants as grant_services
from governance.services import rollback as rollback_services
from governance.services import whatif as whatif_services
from governance.services.charter_lifecycle import charter_terminate_with_grants
from governance.services.health import health_report


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    partners = partners_visible_to(user)
    assets = assets_visible_to(user).prefetch_related("versions")
    return render(
        request,
        "governance/home.html",
        {"partners": partners, "assets": assets, "can_register_assets": can_register_assets(user)},
    )


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
            "can_request": user.has_role(Role.PARTNER_ADMIN),
        },
    )


def _requestable(user: User) -> tuple[object, object, list[str]]:
    """The principals, asset versions and purposes a partner admin may ask for: their active charters' terms."""
    principals = User.objects.filter(organisation_id=user.organisation_id, is_service=True, is_active=True)
    fingerprints: set[str] = set()
    purposes: set[str] = set()
    for charter in Charter.objects.select_related("active_version").filter(
        partner_id=user.organisation_id, status=Charter.Status.ACTIVE
    ):
        if charter.active_version is not None:
            fingerprints |= documents.shareable_fingerprints(charter.active_version.document)
            purposes |= {purpose["name"] for purpose in charter.active_version.document["purposes"]}
    versions = AssetVersion.objects.select_related("asset").filter(fingerprint__in=fingerprints)
    return principals, versions, sorted(purposes)


@login_required
def grant_request(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not user.has_role(Role.PARTNER_ADMIN):
        raise PermissionDenied("Partner admins request grants for their principals.")
    principals, versions, purposes = _requestable(user)
    form = GrantRequestForm(request.POST or None, principals=principals, asset_versions=versions, purposes=purposes)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            grant = grant_services.grant_request(
                partner=access.partner_of(user), requested_by=user, by=actor_for(user), **form.cleaned_data
            )
        if form.is_valid():
            messages.success(request, f"Grant #{grant.pk} requested. An officer reviews it.")
            return redirect("grant-list")
    return render(request, "governance/grant_request.html", {"form": form, "has_terms": bool(purposes)})


@login_required
@require_POST
def grant_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    user = request_user(request)
    if not access.can_decide_grants(user):
        raise PermissionDenied("Only governance officers decide on grants.")
    grant = access.grant_get_for_user(user, pk)
    reason = ReasonForm(request.POST).data.get("reason", "")
    actor = actor_for(user)
    steps = {
        "approve": lambda: grant_services.grant_approve(grant=grant, approver=user, by=actor),
        "refuse": lambda: grant_services.grant_refuse(grant=grant, by=actor, reason=reason),
        "suspend": lambda: grant_services.grant_suspend(grant=grant, by=actor, reason=reason),
        "resume": lambda: grant_services.grant_resume(grant=grant, by=actor, reason=reason),
        "revoke": lambda: grant_services.grant_revoke(grant=grant, by=actor, reason=reason),
    }
    if transition not in steps:
        raise PermissionDenied(f"Unknown step {transition!r}.")
    try:
        done = steps[transition]()
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
    user = request_user(request)
    if not user.is_officer:
        raise PermissionDenied("Only governance officers terminate charters.")
    charter = charter_get_for_user(user, slug)
    reason = request.POST.get("reason", "")
    try:
        if charter.active_version_id is not None:
            # A charter that ever ran ends by its exit plan: revocations, dispositions, attestation, report.
            exit_ = exits.exit_start(charter=charter, by=actor_for(user), reason=reason)
        else:
            _, revoked = charter_terminate_with_grants(charter=charter, by=actor_for(user), reason=reason)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if charter.active_version_id is not None:
            messages.success(request, f"Charter {slug} is terminated and its exit plan is running.")
            return redirect("exit-detail", pk=exit_.pk)
        messages.success(request, f"Charter {slug} is terminated; {revoked} grant(s) under it are revoked.")
    return redirect("charters:charter-detail", slug=slug)


# --- Policy bundles ---------------------------------------------------------------------------------------


def _bundle_reader(request: HttpRequest) -> User:
    return host_member_required(request, "Policy bundles")


@login_required
@require_GET
def bundle_list(request: HttpRequest) -> HttpResponse:
    _bundle_reader(request)
    page = Paginator(PolicyBundle.objects.select_related("parent"), 50).get_page(request.GET.get("page"))
    return render(request, "governance/bundle_list.html", {"page": page})


@login_required
@require_GET
def bundle_detail(request: HttpRequest, ref: str) -> HttpResponse:
    _bundle_reader(request)
    bundle = bundle_services.bundle_get(ref)
    lines = bundle_services.lines_by_charter(bundle_services.bundle_lines(bundle))
    return render(
        request,
        "governance/bundle_detail.html",
        {"bundle": bundle, "lines": lines, "can_roll_back": request_user(request).is_officer},
    )


@login_required
def bundle_rollback(request: HttpRequest, ref: str) -> HttpResponse:
    """GET: what rolling back to the bundle would do. POST: do exactly that plan, or nothing."""
    user = _bundle_reader(request)
    if not user.is_officer:
        raise PermissionDenied("Only governance officers roll the policy back.")
    bundle = bundle_services.bundle_get(ref)
    if request.method == "POST":
        try:
            result = rollback_services.bundle_rollback(
                bundle=bundle,
                officer=user,
                by=actor_for(user),
                reason=request.POST.get("reason", ""),
                expected_plan=request.POST.get("plan", ""),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Rolled back: {result.summary()}")
            return redirect("bundle-detail", ref=bundle.seq)
    plan = rollback_services.rollback_plan(bundle)
    return render(request, "governance/bundle_rollback.html", {"bundle": bundle, "plan": plan})


@login_required
@require_GET
def bundle_diff(request: HttpRequest) -> HttpResponse:
    _bundle_reader(request)
    old_ref, new_ref = request.GET.get("from", "").strip(), request.GET.get("to", "").strip()
    if not old_ref or not new_ref:
        messages.error(request, "Name two bundles to compare: their hashes (8 characters or more) or change numbers.")
        return redirect("bundle-list")
    old, new = bundle_services.bundle_get(old_ref), bundle_services.bundle_get(new_ref)
    groups = bundle_services.bundle_diff(old, new)
    return render(request, "governance/bundle_diff.html", {"old": old, "new": new, "groups": groups})


@login_required
@require_GET
def decision_explain(request: HttpRequest) -> HttpResponse:
    user = host_member_required(request, "Decision explanations")
    decision_id = request.GET.get("decision", "").strip()
    explanation = None
    if decision_id:
        explanation = explain_services.decision_explain(decision_id, grants=access.grants_visible_to(user))
    # Without a decision (none asked for, or none with that id) the page asks for one, saying why.
    status = 404 if decision_id and explanation is None else 200
    context = {"explanation": explanation, "decision_id": decision_id}
    return render(request, "governance/decision_explain.html", context, status=status)


# --- What-if --------------------------------------------------------------------------------------------


# A queued run not started after this long suggests that no worker is running.
WORKER_PATIENCE_SECONDS = 30


@login_required
def whatif_list(request: HttpRequest) -> HttpResponse:
    """GET: the what-if runs (of one version with ?version=). POST: queue a run and show its page."""
    user = host_member_required(request, "What-if replays")
    if request.method == "POST":
        form = WhatIfForm(request.POST)
        version = grant = None
        if form.is_valid():
            data = form.cleaned_data
            version = CharterVersion.objects.select_related("charter").filter(pk=data["version"]).first()
            grant = Grant.objects.select_related("asset_version__asset").filter(pk=data["grant"]).first()
            try:
                run = whatif_services.whatif_request(user=user, days=data["days"], version=version, grant=grant)
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
    runs = WhatIfRun.objects.select_related("charter_version__charter", "grant", "requested_by")
    if is_whole_number(request.GET.get("version", "")):
        runs = runs.filter(charter_version_id=int(request.GET["version"]))
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "governance/whatif_list.html", {"page": page})


@login_required
@require_GET
def whatif_detail(request: HttpRequest, pk: int) -> HttpResponse:
    host_member_required(request, "What-if replays")
    runs = WhatIfRun.objects.select_related("charter_version__charter", "grant", "requested_by")
    run = get_object_or_404(runs, pk=pk)
    report = whatif_services.Report.from_json(run.report) if run.report else None
    waited = (timezone.now() - run.requested_at).total_seconds()
    no_worker = run.status == WhatIfRun.Status.QUEUED and waited > WORKER_PATIENCE_SECONDS
    return render(request, "governance/whatif_detail.html", {"run": run, "report": report, "no_worker": no_worker})
