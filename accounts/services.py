"""Writes for people, organisations and API tokens. Each runs in a transaction and records its event."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import token_owners_manageable_by
from accounts.models import ApiToken, Organisation, Partner, User
from accounts.operations import Operation, performs, person, person_or_none
from accounts.roles import HOST_ROLES, PARTNER_ROLES, Role
from accounts.scopes import Scope, scopes_for_issue, scopes_text
from accounts.sessions import sessions_end_all
from accounts.tokens import token_digest, token_generate, token_visible_prefix
from audit.context import current_request_context
from audit.models import Event
from audit.trail import Actor, event, record, record_standalone

logger = logging.getLogger(__name__)


def actor_for(user: User) -> Actor:
    """The trail's name for a user: principals are told apart from people."""
    kind = Event.ActorType.PRINCIPAL if user.is_service else Event.ActorType.USER
    return Actor(type=kind, id=str(user.pk), label=user.get_username(), user=user)


@performs(Operation.HOST_ENSURE)
@transaction.atomic
def host_organisation_ensure(*, name: str, by: Actor) -> Organisation:
    """The host organisation, created on first use."""
    host = Organisation.objects.filter(kind=Organisation.Kind.HOST).first()
    if host is not None:
        return host
    host = Organisation(name=name, slug=slugify(name), kind=Organisation.Kind.HOST)
    host.full_clean()
    host.save()
    record(action="organisation.created", actor=by, target=host, details={"name": name, "kind": host.kind})
    return host


@performs(Operation.PARTNER_CREATE)
@transaction.atomic
def partner_create(*, name: str, slug: str = "", by: Actor) -> Partner:
    partner = Partner(name=name, slug=slug or slugify(name), kind=Organisation.Kind.PARTNER)
    partner.full_clean()
    partner.save()
    record(action="partner.created", actor=by, partner=partner.slug, target=partner, details={"name": name})
    return partner


@performs(Operation.USER_CREATE)
@transaction.atomic
def user_create(
    *,
    username: str,
    organisation: Organisation,
    role: Role,
    by: Actor,
    email: str = "",
    password: str | None = None,
    full_name: str = "",
) -> User:
    """Create a person or, for ``Role.PARTNER_PRINCIPAL``, a service identity that can only use API tokens."""
    return _user_make(
        username=username,
        organisation=organisation,
        role=role,
        by=by,
        email=email,
        password=password,
        full_name=full_name,
    )


def _user_make(
    *,
    username: str,
    organisation: Organisation,
    role: Role,
    by: Actor,
    email: str = "",
    password: str | None = None,
    full_name: str = "",
) -> User:
    if organisation.is_host and role not in HOST_ROLES:
        raise ValidationError({"role": f"The host organisation's people are officers or auditors, not {role.label}s."})
    if not organisation.is_host and role not in PARTNER_ROLES:
        raise ValidationError({"role": f"A partner's users are partner admins or principals, not {role.label}s."})
    is_service = role == Role.PARTNER_PRINCIPAL
    first_name, _, last_name = full_name.partition(" ")
    user = User(
        username=username,
        email=email,
        organisation=organisation,
        is_service=is_service,
        # Host people may open the admin; what they see there is only what their role's permissions allow.
        is_staff=role in HOST_ROLES,
        first_name=first_name,
        last_name=last_name,
    )
    if password is None or is_service:
        # Principals never log in; people without a password must have one set before they can.
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    user.groups.add(Group.objects.get(name=role))
    record(
        action="user.created",
        actor=by,
        partner="" if organisation.is_host else organisation.slug,
        target=user,
        details={"username": username, "role": role.value, "organisation": organisation.slug},
    )
    return user


@performs(Operation.USER_DEACTIVATE)
@transaction.atomic
def user_deactivate(*, user: User, by: Actor, reason: str) -> bool:
    """Deactivate a person or principal: their web sessions end and their API tokens are revoked at once, and
    neither a login nor a token of theirs works again until they are reactivated. False when they were already
    deactivated (nothing left live is missed: the sessions and tokens are ended either way)."""
    if person_or_none(by) is not None and person_or_none(by) == user:
        raise PermissionDenied("You cannot deactivate yourself: another officer does that.")
    return _deactivate(user=user, by=by, reason=reason)


def _deactivate(*, user: User, by: Actor, reason: str) -> bool:
    if not reason.strip():
        raise ValidationError({"reason": "Say why the person is deactivated (the trail keeps it)."})
    user = User.objects.select_for_update().select_related("organisation").get(pk=user.pk)
    was_active = user.is_active
    if was_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    now = timezone.now()
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=person_or_none(by)
    )
    # Principals never log in: they have tokens and no sessions.
    sessions = 0 if user.is_service else sessions_end_all(user=user, by=by, reason=reason)
    record(
        action="user.deactivated",
        actor=by,
        partner=user.partner_slug,
        target=user,
        reason=reason.strip(),
        details={"username": user.username, "tokens_revoked": revoked, "sessions_ended": sessions},
    )
    return was_active


def _may_manage_principals_of(by: Actor, partner: Organisation) -> None:
    # Officers manage every partner's principals; a partner admin only their own partner's (accounts.access).
    manager = person(by)
    if not manager.is_officer and manager.organisation_id != partner.pk:
        raise PermissionDenied("You manage the principals of your own partner only.")


@performs(Operation.PRINCIPAL_MANAGE)
@transaction.atomic
def principal_create(*, partner: Organisation, username: str, by: Actor, full_name: str = "") -> User:
    """Add a principal (a gateway or a job) to ``partner``: a service identity that only ever uses API tokens."""
    if partner.is_host:
        raise ValidationError({"partner": "Principals belong to partners: the host's people log in."})
    _may_manage_principals_of(by, partner)
    _refuse_after_exit(partner)
    return _user_make(username=username, organisation=partner, role=Role.PARTNER_PRINCIPAL, by=by, full_name=full_name)


@performs(Operation.PRINCIPAL_MANAGE)
@transaction.atomic
def principal_disable(*, principal: User, by: Actor, reason: str) -> bool:
    """Disable a principal: every token of it is revoked at once and none works again. False when it was
    disabled already."""
    if not principal.is_service:
        raise ValidationError({"principal": f"{principal.username} is a person, not a principal."})
    _may_manage_principals_of(by, principal.organisation)
    return _deactivate(user=principal, by=by, reason=reason)


def _token_lifetime(days: int | None) -> timedelta:
    maximum = settings.ACCORD_TOKEN_MAX_DAYS
    if days is None:
        return timedelta(days=maximum)
    if not 1 <= days <= maximum:
        raise ValidationError({"expires_in_days": f"A token lives between 1 and {maximum} days; {days} is outside."})
    return timedelta(days=days)


@performs(Operation.TOKEN_ISSUE)
@transaction.atomic
def api_token_issue(
    *,
    user: User,
    name: str,
    by: Actor,
    expires_in_days: int | None = None,
    scopes: Iterable[str] | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token for ``user`` with ``scopes`` (their role's default when none are named; never more than the
    role allows). Returns the row and the token itself, which is never retrievable again."""
    created_by = person_or_none(by)
    _may_manage_tokens_of(by, user)
    if not user.is_active:
        raise ValidationError({"user": f"{user.username} is deactivated; reactivate them before issuing a token."})
    _refuse_after_exit(user.organisation)
    granted = scopes_for_issue(user, scopes)
    raw = token_generate()
    token = ApiToken(
        user=user,
        name=name,
        scopes=scopes_text(granted),
        prefix=token_visible_prefix(raw),
        digest=token_digest(raw),
        created_by=created_by,
        expires_at=timezone.now() + _token_lifetime(expires_in_days),
    )
    token.full_clean()
    token.save()
    record(
        action="api_token.issued",
        actor=by,
        partner=user.partner_slug,
        target=token,
        details={
            "owner": user.username,
            "name": name,
            "prefix": token.prefix,
            "expires_at": token.expires_at,
            "scopes": token.scopes,
        },
    )
    return token, raw


@performs(Operation.TOKEN_REVOKE)
@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: Actor) -> ApiToken:
    # Lock the row: a second revoke waiting here sees the first one's answer and records nothing.
    token = ApiToken.objects.select_for_update().select_related("user__organisation").get(pk=token.pk)
    _may_manage_tokens_of(by, token.user)
    revoked_by = person_or_none(by)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = revoked_by
    token.save(update_fields=["revoked_at", "revoked_by"])
    record(
        action="api_token.revoked",
        actor=by,
        partner=token.user.partner_slug,
        target=token,
        details={"owner": token.user.username, "name": token.name, "prefix": token.prefix},
    )
    return token


def _may_manage_tokens_of(by: Actor, owner: User) -> None:
    # A person manages their own tokens and those of the principals they answer for (accounts.access says whose).
    actor = person_or_none(by)
    if actor is not None and not token_owners_manageable_by(actor).filter(pk=owner.pk).exists():
        raise PermissionDenied(f"You cannot manage API tokens for {owner.username!r}.")


@performs(Operation.PARTNER_ACCESS_END)
@transaction.atomic
def partner_access_end(*, partner: Organisation, by: Actor, reason: str) -> bool:
    """End a partner's access to the API (its exit does): its people's tokens stop working, and no new token is
    issued until a new charter with them is approved. False when it had ended already."""
    now = timezone.now()
    ended = Organisation.objects.filter(pk=partner.pk, access_ended_at__isnull=True).update(access_ended_at=now)
    if ended:
        record(
            action="partner.access_ended",
            actor=by,
            partner=partner.slug,
            target=partner,
            reason=reason,
            details={"ended_at": now},
        )
    return bool(ended)


@performs(Operation.PARTNER_ACCESS_RESTORE)
@transaction.atomic
def partner_access_restore(*, partner: Organisation, by: Actor, reason: str) -> bool:
    """Give a partner whose access ended its access back (a newly approved charter with them does). False when
    its access had not ended."""
    ended_at = Organisation.objects.filter(pk=partner.pk).values_list("access_ended_at", flat=True).first()
    restored = Organisation.objects.filter(pk=partner.pk, access_ended_at__isnull=False).update(access_ended_at=None)
    if restored:
        record(
            action="partner.access_restored",
            actor=by,
            partner=partner.slug,
            target=partner,
            reason=reason,
            details={"ended_at": ended_at},
        )
    return bool(restored)


def _refuse_after_exit(organisation: Organisation) -> None:
    # Read afresh: the organisation object may be as it was before an exit.
    ended = Organisation.objects.filter(pk=organisation.pk).values_list("access_ended_at", flat=True).first()
    if ended is not None:
        message = (
            f"The collaboration with {organisation.name} ended on {ended:%Y-%m-%d}: no token is issued for "
            "its people until a new charter with them is approved."
        )
        raise ValidationError({"user": message})


@performs(Operation.TOKEN_NARROW)
@transaction.atomic
def api_token_narrow(*, token: ApiToken, by: Actor, reason: str) -> bool:
    """Narrow a token to what an exit still needs; False when it was narrowed (or revoked) already."""
    narrowed = (
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True)
        .exclude(scopes=Scope.EXIT)
        .update(scopes=Scope.EXIT)
    )
    if narrowed:
        record(
            action="api_token.narrowed",
            actor=by,
            partner=token.user.partner_slug,
            target=token,
            reason=reason,
            details={"owner": token.user.username, "name": token.name, "prefix": token.prefix, "scope": "exit"},
        )
    return bool(narrowed)


@performs(Operation.TOKEN_ROTATE)
@transaction.atomic
def api_token_rotate(*, token: ApiToken, by: Actor, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Give an existing token row a new secret and lifetime; the old secret stops working at commit."""
    token = ApiToken.objects.select_for_update().select_related("user__organisation").get(pk=token.pk)
    _may_manage_tokens_of(by, token.user)
    _refuse_after_exit(token.user.organisation)
    raw = token_generate()
    token.prefix = token_visible_prefix(raw)
    token.digest = token_digest(raw)
    token.expires_at = timezone.now() + _token_lifetime(expires_in_days)
    token.revoked_at = None
    token.revoked_by = None
    token.full_clean()
    token.save()
    record(
        action="api_token.rotated",
        actor=by,
        partner=token.user.partner_slug,
        target=token,
        details={"owner": token.user.username, "name": token.name, "prefix": token.prefix},
    )
    return token, raw


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token whose digest matches, with its user and organisation; None otherwise."""
    token = (
        ApiToken.objects.select_related("user__organisation")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    token.last_used_at = api_token_mark_used(token.pk, token.last_used_at)
    return token


def api_token_mark_used(pk: int, last_used_at: datetime | None) -> datetime | None:
    """Note that a token was used, at most once a minute: "last used" is for people, and the decision path is
    hot. Returns the token's last-used time now."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at <= timedelta(seconds=60):
        return last_used_at
    ApiToken.objects.filter(pk=pk).update(last_used_at=now)
    return now


@transaction.atomic
def login_record(*, user: User) -> None:
    record(action="auth.login", actor=actor_for(user), partner=user.partner_slug, target=user)


class _OncePerMinute:
    """ "First time this minute?" for a key, shared by every process through the cache (Redis), or kept in this
    process while the cache does not answer: a rejected token must stay a 401 whatever Redis does."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}

    def first(self, key: str) -> bool:
        minute = int(time.time() // 60)
        try:
            return bool(cache.add(f"{key}:{minute}", 1, timeout=120))
        except Exception as error:  # any cache failure: Redis refusing, silent or gone
            logger.warning("The cache did not answer (%s); counting rejected tokens in this process", error)
        with self._lock:
            if len(self._seen) >= self.MAX_KEYS:
                self._seen = {k: m for k, m in self._seen.items() if m == minute}
                if len(self._seen) >= self.MAX_KEYS:
                    return False  # a flood of distinct junk: the trail has heard of it this minute already
            if self._seen.get(key) == minute:
                return False
            self._seen[key] = minute
            return True


_token_rejections = _OncePerMinute()


def token_rejection_record(*, raw: str) -> None:
    """A bearer token that matched no live one: recorded on its own (nothing else happens), named by a short
    digest so that repeated tries with the same token show up together and nothing of a token is stored.

    Once per token per minute: a client retrying a revoked token in a loop (or anyone sending junk) must not be
    able to grow the append-only trail without bound.
    """
    if not _address_under_cap():
        return
    digest = token_digest(raw)[:12]
    if not _token_rejections.first(f"token-rejected:{digest}"):
        return
    record_standalone(
        [
            event(
                action="auth.token_rejected",
                actor=Actor.anonymous(label="bearer token"),
                outcome=Event.Outcome.FAILURE,
                reason="Unknown, expired or revoked API token.",
                details={"token_digest": digest},
            )
        ]
    )


def _address_under_cap() -> bool:
    """Whether this request's address is still under ACCORD_TOKEN_REJECTIONS_PER_ADDRESS rejected tokens this
    minute. The one that reaches the cap is recorded as such; past it nothing is recorded and no per-token key
    is made, so a flood of distinct junk tokens from one address costs the trail one event a minute."""
    address = current_request_context().client_address or "unknown"
    minute = int(time.time() // 60)
    key = f"token-rejections:{address}:{minute}"
    cap = settings.ACCORD_TOKEN_REJECTIONS_PER_ADDRESS
    try:
        cache.add(key, 0, timeout=120)
        count = int(cache.incr(key))
    except Exception as error:  # any cache failure: count in this process instead
        logger.warning("The cache did not answer (%s); capping rejected tokens in this process", error)
        count = _local_rejections.count(f"{address}:{minute}")
    if count == cap + 1:
        record_standalone(
            [
                event(
                    action="auth.token_rejections_capped",
                    actor=Actor.anonymous(label="bearer token"),
                    outcome=Event.Outcome.FAILURE,
                    reason=f"More than {cap} unknown tokens from one address in a minute: the rest of this minute's "
                    "are refused without being recorded.",
                    details={"address": address, "cap": cap},
                )
            ]
        )
    return count <= cap


class _CountPerKey:
    """A bounded in-process counter for when the cache does not answer."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        with self._lock:
            if key not in self._counts and len(self._counts) >= self.MAX_KEYS:
                self._counts.clear()
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


_local_rejections = _CountPerKey()


@transaction.atomic
def login_failure_record(*, username: str, locked: bool = False) -> None:
    """A failed login names the username tried (never the password) so that guessing shows in the trail; one
    refused because the account or the address is locked out says so (the password was not even checked)."""
    known = User.objects.select_related("organisation").filter(username=username).first()
    record(
        action="auth.login_failed",
        actor=Actor.anonymous(label=username[:150]),
        partner=known.partner_slug if known is not None else "",
        target=known,
        outcome=Event.Outcome.FAILURE,
        reason="Refused: too many failed logins (locked out)." if locked else "Wrong username or password.",
    )


@transaction.atomic
def logout_record(*, user: User) -> None:
    record(action="auth.logout", actor=actor_for(user), partner=user.partner_slug, target=user)
