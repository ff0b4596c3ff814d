"""Who reads which part of the trail. The host's officers and auditors (``audit.view_event``) read all of it;
a partner's admins (``audit.view_own_partner_events``) read their own partner's events only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit.models import Event, ExportFile, ExportJob
from audit.trail import Actor

ALL = None


def trail_scope(user: Any) -> str | None:
    """None for the whole trail, a partner's slug for that partner's slice; PermissionDenied otherwise."""
    if user.has_perm("audit.view_event"):
        return ALL
    partner = getattr(user, "partner_slug", "")
    if partner and user.has_perm("audit.view_own_partner_events"):
        return str(partner)
    raise PermissionDenied("The trail is for the host's officers and auditors, and for partner admins (their slice).")


def _scoped(user: Any, found: ExportFile | ExportJob | None, missing: str) -> Any:
    scope = trail_scope(user)
    if found is None or (scope is not None and found.partner != scope):
        raise Http404(missing)
    return found


def export_get_for_user(user: Any, pk: Any) -> ExportFile:
    """A finished export its reader may download: any for the host's people, their own slice for a partner."""
    export = ExportFile.objects.filter(pk=pk).first()
    return _scoped(user, export, "No such export, or it is not finished yet: its status says.")


def export_job_get_for_user(user: Any, pk: Any) -> ExportJob:
    """An export job its reader may follow, with the same rule."""
    return _scoped(user, ExportJob.objects.filter(pk=pk).first(), "No such export.")


def actor_of(user: Any) -> Actor:
    """The trail's name for the user behind a request (this app cannot ask accounts for it): principals are told
    apart from people."""
    kind = Event.ActorType.PRINCIPAL if getattr(user, "is_service", False) else Event.ActorType.USER
    return Actor(type=kind, id=str(user.pk), label=user.get_username(), user=user)
