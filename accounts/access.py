"""Who may see and act on what, for people, partners and tokens. Views ask here and nowhere else.

Partners are the tenant boundary: a partner's people see their own partner and nothing of anyone else's.
Records that are not visible answer 404 rather than 403, so their existence is not given away either.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import ApiToken, Organisation, Partner, User
from accounts.operations import REFUSALS, Operation, may
from accounts.roles import Role


def request_user(request: Any) -> User:
    """The signed-in user of a Django or DRF request, as Accord's User: only ever called behind
    login_required or DRF's IsAuthenticated, so it is never anonymous."""
    return cast(User, request.user)


def partner_only(user: User | None, partner: Organisation) -> None:
    """A partner's people act for their own partner only; the host's people (and system actors, None) for any.
    The refusal names no partner: which partners exist is not the asker's to learn."""
    if user is not None and not user.organisation.is_host and user.organisation_id != partner.pk:
        raise PermissionDenied("You act only for your own partner.")


def user_who_may(request: Any, operation: Operation) -> User:
    """The signed-in user when the operation table lets them perform ``operation``; a 403 with its refusal
    otherwise. For pages and endpoints that offer an act before its service (which asks again) runs."""
    user = request_user(request)
    if not may(user, operation):
        raise PermissionDenied(REFUSALS[operation])
    return user


def active_officers() -> QuerySet[User]:
    """The host's governance officers who can act: reviewers, and the people officer mail goes to."""
    return User.objects.filter(is_active=True, groups__name=Role.OFFICER, organisation__kind="host")


def partners_visible_to(user: User) -> QuerySet[Partner]:
    if user.is_host_member:
        return Partner.objects.all()
    return Partner.objects.filter(pk=user.organisation_id)


def principals_visible_to(user: User) -> QuerySet[User]:
    """Principals a person sees: the host's staff every partner's, a partner admin their own partner's."""
    principals = User.objects.filter(is_service=True).select_related("organisation").order_by("username")
    if user.is_host_member:
        return principals
    if user.has_role(Role.PARTNER_ADMIN):
        return principals.filter(organisation_id=user.organisation_id)
    return principals.none()


def token_owners_manageable_by(user: User) -> QuerySet[User]:
    """Whose API tokens ``user`` may issue and revoke: their own, and the principals they are responsible for."""
    if user.is_service:
        return User.objects.none()
    own = Q(pk=user.pk)
    if user.is_officer:
        return User.objects.filter(own | Q(is_service=True)).select_related("organisation")
    if user.has_role(Role.PARTNER_ADMIN):
        return User.objects.filter(own | Q(is_service=True, organisation_id=user.organisation_id)).select_related(
            "organisation"
        )
    return User.objects.filter(own).select_related("organisation")


def tokens_visible_to(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user__in=token_owners_manageable_by(user)).select_related(
        "user__organisation", "created_by"
    )


def token_get_for_user(user: User, pk: int) -> ApiToken:
    token = tokens_visible_to(user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such API token.")
    return token


def token_owner_get_for_user(user: User, username: str) -> User:
    owner = token_owners_manageable_by(user).filter(username=username).first()
    if owner is None:
        raise Http404(f"You cannot manage API tokens for {username!r}.")
    return owner
