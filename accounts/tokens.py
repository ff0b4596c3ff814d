"""How API tokens look and how they are recognised: random, prefixed, and known to us only by digest."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "acc_"  # noqa: S105 (a label, not a secret)
# Shown in token lists so people can tell their tokens apart; far too short to guess the rest from.
VISIBLE_CHARS = 12


def token_generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # A plain SHA-256 is enough: the token carries 256 random bits, so there is nothing to brute-force
    # that a slow hash would protect, and lookups stay one indexed query.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_visible_prefix(token: str) -> str:
    return token[:VISIBLE_CHARS]
