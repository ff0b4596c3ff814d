"""Attestation nonces: a principal asks for one, its enclave puts it in the evidence, and the decision point
spends it once, so a recorded attestation cannot be replayed.

Single-use and short-lived (ACCORD_ATTESTATION_NONCE_SECONDS). With Redis they live there, and a spend is one Lua
script (atomic across every process); in the embedded mode they are rows of AttestationNonce, and a spend is one
conditional UPDATE, so of two racing spends exactly one wins. A nonce is bound to the principal that asked for it:
another principal's spend finds nothing ("unknown") and leaves it spendable by its owner. An expired nonce is
remembered for one more lifetime, so a late spend hears "expired" rather than "unknown"; after that Redis drops it
by its TTL, and the database's rows are pruned each time a nonce is issued.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from governance.decisions import limits
from governance.models import AttestationNonce

# The deny code a refused nonce gives a decision (issue 25).
REPLAYED = "attestation_replayed"

# KEYS[1] the nonce, ARGV[1] now (epoch seconds). The stored value is the nonce's expiry, or "spent" once used.
_SPEND = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 'unknown' end
if stored == 'spent' then return 'used' end
if tonumber(stored) <= tonumber(ARGV[1]) then return 'expired' end
redis.call('SET', KEYS[1], 'spent', 'KEEPTTL')
return 'spent'
"""

Why = Literal["unknown", "expired", "used"]
MESSAGES: dict[Why, str] = {
    "unknown": "The attestation nonce is unknown: ask POST /api/v1/attestation/nonce for one, with this token.",
    "expired": "The attestation nonce expired: ask for a fresh one and attest again.",
    "used": "The attestation nonce was already used: each nonce is good for one attestation; ask for a fresh one.",
}


@dataclass(frozen=True)
class Nonce:
    value: str
    expires_at: datetime


class NonceRefusedError(Exception):
    """A nonce that cannot be spent: unknown (or another principal's), expired, or already used."""

    code = REPLAYED

    def __init__(self, why: Why) -> None:
        super().__init__(MESSAGES[why])
        self.why = why


class NonceStoreUnavailableError(Exception):
    """Redis did not answer: no nonce is issued or spent (the caller fails closed)."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(principal: User, digest: str) -> str:
    return f"{settings.ACCORD_REDIS_PREFIX}attestation:nonce:{principal.pk}:{digest}"


def _lifetime() -> timedelta:
    return timedelta(seconds=settings.ACCORD_ATTESTATION_NONCE_SECONDS)


def nonce_issue(principal: User, now: datetime | None = None) -> Nonce:
    """A fresh nonce for ``principal``, spendable once until its ``expires_at``."""
    now = now or timezone.now()
    # 32 random bytes as 64 hex digits: the one form every verifier carries, NVIDIA NRAS included (it takes only that).
    value = secrets.token_hex(32)
    expires_at = now + _lifetime()
    digest = _digest(value)
    if settings.REDIS_URL:
        key, remembered = _key(principal, digest), 2 * settings.ACCORD_ATTESTATION_NONCE_SECONDS
        try:
            limits.redis_call(lambda client: client.set(key, repr(expires_at.timestamp()), ex=remembered, nx=True))
        except limits.LimitsUnavailableError as error:
            raise NonceStoreUnavailableError(str(error)) from error
    else:
        AttestationNonce.objects.filter(expires_at__lt=now - _lifetime()).delete()
        AttestationNonce.objects.create(principal=principal, digest=digest, expires_at=expires_at)
    return Nonce(value=value, expires_at=expires_at)


def nonce_spend(principal: User, value: str, now: datetime) -> None:
    """Spend ``principal``'s nonce ``value`` at ``now``; NonceRefusedError when it cannot be (unknown, another
    principal's, expired or already used), NonceStoreUnavailableError when Redis does not answer."""
    digest = _digest(value)
    if settings.REDIS_URL:
        key, at = _key(principal, digest), repr(now.timestamp())
        try:
            outcome = limits.redis_call(lambda client: client.register_script(_SPEND)(keys=[key], args=[at]))
        except limits.LimitsUnavailableError as error:
            raise NonceStoreUnavailableError(str(error)) from error
        why = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if why != "spent":
            raise NonceRefusedError(_why(why))
        return
    mine = AttestationNonce.objects.filter(principal=principal, digest=digest)
    # Another decision may spend the same nonce at the same moment: only the one whose UPDATE changed a row goes on.
    if mine.filter(spent_at__isnull=True, expires_at__gt=now).update(spent_at=now):
        return
    found = mine.values_list("spent_at", flat=True)[:1]
    if not found:
        raise NonceRefusedError("unknown")
    raise NonceRefusedError("used" if found[0] is not None else "expired")


def _why(outcome: str) -> Why:
    if outcome == "used":
        return "used"
    if outcome == "expired":
        return "expired"
    return "unknown"
