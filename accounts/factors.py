"""Second factors: passkeys (django-otp-webauthn), TOTP authenticators (django-otp) and one-time recovery codes.

Every person who logs in to the web has at least one passkey or authenticator; until they do, every page sends
them to enrolment. Recovery codes are a way back in when a device is lost, not a factor of their own: they are
issued with the first factor and can be issued again. Principals never log in and never have factors.

Each write records its event; no code, secret or key is ever in one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import Proposal, RecoveryCode, RecoveryCodeDevice, User, recovery_code_digest
from accounts.operations import Operation, performs, person
from accounts.proposals import Done, Plan, ProposalKind
from accounts.services import actor_for
from accounts.sessions import VERIFIED, session_time, sessions_end_all
from audit.models import Event
from audit.trail import Actor, event, record, record_standalone

RECOVERY_CODES = 10
# The demo people's authenticator: enrolled by seed_demo (development only), its codes printed by demo_codes.
DEMO_AUTHENTICATOR = "Demo authenticator (development only)"
# Ten characters of an alphabet without look-alikes (no 0/o, 1/l/i): about 50 bits each, typed as xxxxx-xxxxx.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


@dataclass(frozen=True)
class Factor:
    """One of a person's factors, as pages list it."""

    kind: str  # "passkey" | "authenticator"
    name: str
    created_at: datetime | None
    last_used_at: datetime | None
    persistent_id: str


def factors_of(user: User) -> list[Factor]:
    """A person's confirmed passkeys and authenticators, oldest first."""
    found = [
        Factor("passkey", key.name or "Passkey", key.created_at, key.last_used_at, key.persistent_id)
        for key in WebAuthnCredential.objects.filter(user=user, confirmed=True)
    ]
    found += [
        Factor("authenticator", app.name, app.created_at, app.last_used_at, app.persistent_id)
        for app in TOTPDevice.objects.filter(user=user, confirmed=True)
    ]
    return sorted(found, key=lambda factor: factor.created_at or timezone.now())


def has_factor(user: User) -> bool:
    """Whether the person has enrolled a passkey or an authenticator (recovery codes alone do not count)."""
    return (
        WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
        or TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    )


def has_demo_authenticator(user: User) -> bool:
    return not settings.PRODUCTION and TOTPDevice.objects.filter(user=user, name=DEMO_AUTHENTICATOR).exists()


def recovery_codes_left(user: User) -> int | None:
    device = RecoveryCodeDevice.objects.filter(user=user, confirmed=True).first()
    return None if device is None else device.remaining


# --- Passing the second factor ------------------------------------------------------------------------------


def second_factor_passed(request: HttpRequest, device: Device) -> None:
    """Mark the session as having passed its second factor now (the step-up clock starts again) and record it."""
    otp_login(request, device)
    request.session[VERIFIED] = timezone.now().isoformat()
    user = device.user
    record_standalone_for(user, "auth.second_factor", details={"factor": _kind(device)})


def second_factor_fresh(request: HttpRequest) -> bool:
    """Whether the second factor was given within the step-up window (ACCORD_STEP_UP_MINUTES)."""
    if not getattr(request.user, "is_verified", lambda: False)():
        return False
    verified = session_time(request.session, VERIFIED)
    return verified is not None and timezone.now() - verified <= timedelta(minutes=settings.ACCORD_STEP_UP_MINUTES)


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    wait_seconds: int = 0


def code_check(user: User, code: str) -> CodeCheck:
    """Try a six-digit code on the person's authenticators, or a recovery code on their recovery codes.

    Wrong codes make the next try wait (django-otp's throttle, per device); the answer says how long. A failure
    is recorded in the trail, naming the person but never the code."""
    code = code.strip()
    # An app shows six digits; a recovery code is ten letters and digits (typed with or without its dash).
    from_app = code.isdigit() and len(code) <= 8
    with transaction.atomic():
        model = TOTPDevice if from_app else RecoveryCodeDevice
        devices: list[Device] = [*model.objects.select_for_update().filter(user=user, confirmed=True)]
        waits = []
        for device in devices:
            allowed, why = device.verify_is_allowed()
            if not allowed:
                waits.append(_seconds_until(why))
                continue
            if device.verify_token(code):
                if isinstance(device, TOTPDevice):
                    device.set_last_used_timestamp()
                return CodeCheck(device)
    record_standalone_for(
        user,
        "auth.second_factor_failed",
        outcome=Event.Outcome.FAILURE,
        reason="A wrong or already used code.",
        details={"factor": "authenticator" if from_app else "recovery code"},
    )
    return CodeCheck(None, wait_seconds=max(waits, default=0) if len(waits) == len(devices) else 0)


def _seconds_until(why: dict[str, object] | None) -> int:
    if not why or why.get("reason") != VerifyNotAllowed.N_FAILED_ATTEMPTS:
        return 0
    until = why.get("locked_until")
    if not isinstance(until, datetime):
        return 1
    return max(1, int((until - timezone.now()).total_seconds() + 0.999))


def record_standalone_for(user: User, action: str, **fields: Any) -> None:
    """A login step's event, committed on its own: a failed step is kept even though nothing else is written."""
    record_standalone([event(action=action, actor=actor_for(user), partner=user.partner_slug, target=user, **fields)])


def _kind(device: Device) -> str:
    if isinstance(device, WebAuthnCredential):
        return "passkey"
    if isinstance(device, RecoveryCodeDevice):
        return "recovery code"
    return "authenticator"


# --- Enrolment and the person's own factors -----------------------------------------------------------------


def totp_pending(user: User) -> TOTPDevice:
    """The authenticator being set up: an unconfirmed TOTP device with a fresh secret, kept until confirmed."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return pending


@performs(Operation.OWN_ACCOUNT)
@transaction.atomic
def totp_confirm(*, device: TOTPDevice, code: str, name: str, by: Actor) -> TOTPDevice:
    """Confirm an authenticator with a code it shows: proof that the secret reached it."""
    owner = person(by)
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=owner, confirmed=False)
    if not device.verify_token(code.strip()):
        raise ValidationError(
            {"code": "That code does not match. Check the app's clock is right, then type the code it shows now."}
        )
    device.confirmed = True
    device.name = name.strip()[:64] or "Authenticator app"
    device.save()
    factor_added_record(owner, device, by=by)
    return device


@performs(Operation.OWN_ACCOUNT)
@transaction.atomic
def factor_added_record(user: User, device: Device, *, by: Actor) -> None:
    record(
        action="auth.factor_added",
        actor=by,
        partner=user.partner_slug,
        target=user,
        details={"factor": _kind(device), "name": device.name},
    )


@performs(Operation.OWN_ACCOUNT)
@transaction.atomic
def recovery_codes_issue(*, user: User, by: Actor) -> list[str]:
    """A new set of one-time recovery codes for the person; any earlier set stops working. Returns the codes,
    which are shown once: only their digests are kept."""
    owner = person(by)
    if owner.pk != user.pk:
        raise PermissionDenied("Only the person themselves issues their recovery codes.")
    if not has_factor(user):
        raise ValidationError("Set up a passkey or an authenticator first: recovery codes come with a factor.")
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(RecoveryCode(device=device, digest=recovery_code_digest(c)) for c in codes)
    record(
        action="auth.recovery_codes_issued",
        actor=by,
        partner=user.partner_slug,
        target=user,
        details={"codes": len(codes)},
    )
    return codes


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


@performs(Operation.OWN_ACCOUNT)
@transaction.atomic
def factor_remove(*, user: User, persistent_id: str, by: Actor) -> None:
    """Remove one of the person's own factors; never the last, which would leave them unable to log in."""
    owner = person(by)
    if owner.pk != user.pk:
        raise PermissionDenied("You remove only your own factors; an officer resets another person's.")
    device = Device.from_persistent_id(persistent_id)
    if device is None or device.user_id != user.pk or isinstance(device, RecoveryCodeDevice):
        raise ValidationError("That factor is not one of yours, or it is gone already.")
    if len(factors_of(user)) <= 1:
        raise ValidationError("This is your only factor: add another before you remove it.")
    kind, name = _kind(device), device.name
    device.delete()
    record(
        action="auth.factor_removed",
        actor=by,
        partner=user.partner_slug,
        target=user,
        details={"factor": kind, "name": name},
    )


@performs(Operation.FACTORS_RESET)
@transaction.atomic
def factors_reset(*, user: User, by: Actor, reason: str) -> int:
    """Remove every factor of another person (a lost phone, a departed laptop) and end their sessions: their next
    login enrols afresh. An officer does this for others, never for themselves. Returns how many were removed."""
    officer = person(by)
    if officer.pk == user.pk:
        raise PermissionDenied("You cannot reset your own factors: another officer does that for you.")
    if user.is_service:
        raise ValidationError({"user": f"{user.username} is a principal: principals use tokens and have no factors."})
    if not reason.strip():
        raise ValidationError({"reason": "Say why the factors are reset (the trail keeps it)."})
    removed = 0
    for model in (WebAuthnCredential, TOTPDevice, RecoveryCodeDevice):
        count, _ = model.objects.filter(user=user).delete()
        removed += count
    sessions_end_all(user=user, by=by, reason="Their factors were reset.")
    record(
        action="auth.factors_reset",
        actor=by,
        partner=user.partner_slug,
        target=user,
        reason=reason.strip(),
        details={"username": user.username},
    )
    return removed


def _factors_reset_plan(target: str, proposer: User) -> Plan:
    user = User.objects.select_related("organisation").filter(username=target, is_service=False).first()
    if user is None:
        raise ValidationError({"target": f"No person has the username {target!r}: name the person by username."})
    if user.pk == proposer.pk:
        raise ValidationError({"target": "You cannot reset your own factors: another officer proposes that for you."})
    held = factors_of(user)
    codes = RecoveryCodeDevice.objects.filter(user=user).count()
    names = ", ".join(f"{factor.kind} “{factor.name}”" for factor in held) or "no passkey or authenticator"
    lines = [
        f"{user.username} ({user.organisation.name}) loses every factor: {names}"
        + (", and their recovery codes." if codes else "."),
        "All their web sessions end now; at their next login they set up a new factor.",
    ]
    return Plan(target_label=f"{user.username} ({user.organisation.name})", partner=user.partner_slug, lines=lines)


def _factors_reset_carry_out(proposal: Proposal, by: Actor) -> Done:
    user = User.objects.get(username=proposal.target, is_service=False)
    removed = factors_reset(user=user, by=by, reason=proposal.reason)
    return Done(f"{removed} factor{'s' if removed != 1 else ''} of {user.username} removed; their sessions ended.")


FACTORS_RESET_PROPOSAL = ProposalKind(
    kind=Proposal.Kind.FACTORS_RESET,
    operation=Operation.FACTORS_RESET,
    plan=_factors_reset_plan,
    carry_out=_factors_reset_carry_out,
    target_hint="the person's username",
)
