"""Policy pages: the recorded bundles, their diff and rollback, and a decision's explanation."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import request_user, user_who_may
from accounts.models import Proposal, User
from accounts.operations import Operation, may
from accounts.proposal_views import propose
from governance import access
from governance.policy import explain as explain_services
from governance.policy import names
from governance.policy import rollback as rollback_services
from governance.policy import selectors as bundle_selectors


def _bundle_reader(request: HttpRequest) -> User:
    return request_user(request)


@login_required
@require_GET
def bundle_list(request: HttpRequest) -> HttpResponse:
    user = _bundle_reader(request)
    page = Paginator(bundle_selectors.bundle_history(), 50).get_page(request.GET.get("page"))
    changes = names.bundle_changes(page, viewer=user)
    rows = [{"bundle": bundle, "change": changes.get(bundle.seq)} for bundle in page]
    return render(request, "governance/bundle_list.html", {"page": page, "rows": rows})


@login_required
@require_GET
def bundle_detail(request: HttpRequest, ref: str) -> HttpResponse:
    user = _bundle_reader(request)
    bundle = bundle_selectors.bundle_get(ref)
    lines = bundle_selectors.bundle_lines(bundle)
    named = names.LineNames.of(lines, viewer=user)
    by_charter = [
        (named.charter(slug), named.show_all(charter_lines))
        for slug, charter_lines in bundle_selectors.lines_by_charter(lines).items()
    ]
    return render(
        request,
        "governance/bundle_detail.html",
        {
            "bundle": bundle,
            "change": names.bundle_changes([bundle], viewer=user).get(bundle.seq),
            "charters": by_charter,
            "can_roll_back": may(user, Operation.POLICY_ROLLBACK),
        },
    )


@login_required
def bundle_rollback(request: HttpRequest, ref: str) -> HttpResponse:
    """GET: what rolling back to the bundle would do. POST: propose exactly that plan, for a second officer."""
    _bundle_reader(request)
    user_who_may(request, Operation.POLICY_ROLLBACK)
    bundle = bundle_selectors.bundle_get(ref)
    if request.method == "POST":
        return propose(
            request,
            kind=Proposal.Kind.POLICY_ROLLBACK,
            target=bundle.hash,
            back=reverse("bundle-rollback", kwargs={"ref": bundle.seq}),
            expected_check=request.POST.get("plan", ""),
        )
    plan = rollback_services.rollback_plan(bundle)
    return render(request, "governance/bundle_rollback.html", {"bundle": bundle, "plan": plan})


@login_required
@require_GET
def bundle_diff(request: HttpRequest) -> HttpResponse:
    user = _bundle_reader(request)
    old_ref, new_ref = request.GET.get("from", "").strip(), request.GET.get("to", "").strip()
    if not old_ref or not new_ref:
        messages.error(request, "Name two bundles to compare: their hashes (8 characters or more) or change numbers.")
        return redirect("bundle-list")
    old, new = bundle_selectors.bundle_get(old_ref), bundle_selectors.bundle_get(new_ref)
    groups = bundle_selectors.bundle_diff(old, new)
    named = names.LineNames.of((line for group in groups for line in group.added + group.removed), viewer=user)
    shown = [
        (
            named.charter(group.charter),
            [replace(named.show(line), change="added") for line in group.added]
            + [replace(named.show(line), change="removed") for line in group.removed],
        )
        for group in groups
    ]
    return render(request, "governance/bundle_diff.html", {"old": old, "new": new, "groups": groups, "shown": shown})


@login_required
@require_GET
def decision_explain(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    decision_id = request.GET.get("decision", "").strip()
    explanation = None
    if decision_id:
        explanation = explain_services.decision_explain(decision_id, grants=access.grants_visible_to(user))
    # Without a decision (none asked for, or none with that id) the page asks for one, saying why.
    status = 404 if decision_id and explanation is None else 200
    context: dict[str, object] = {"explanation": explanation, "decision_id": decision_id}
    if explanation is not None:
        context.update(_explanation_names(explanation, viewer=user))
    return render(request, "governance/decision_explain.html", context, status=status)


def _explanation_names(explanation: explain_services.Explanation, *, viewer: User) -> dict[str, object]:
    """The explanation's lines, subjects and asset by name, in one query per kind."""
    kinds = {"deny": explanation.deny_lines, "allow": explanation.allow_lines, "near": explanation.near_lines}
    lines = {kind: [("p", *line) for line in found] for kind, found in kinds.items()}
    named = names.LineNames.of(
        (line for found in lines.values() for line in found),
        viewer=viewer,
        subjects=(subject for subjects in explanation.subjects.values() for subject in subjects),
        charters=explanation.subjects,
        assets=[explanation.decision.asset],
    )
    return {
        "shown": {kind: named.show_all(found) for kind, found in lines.items()},
        "subjects": [
            (named.charter(charter), [named.subject(subject) for subject in subjects])
            for charter, subjects in explanation.subjects.items()
        ],
        "asset": named.asset(explanation.decision.asset),
    }
