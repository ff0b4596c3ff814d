"""A pytest plugin that watches for secrets where they must never be: every API token, decision session token,
recovery code, TOTP secret and data key made during a test, and the test password, is remembered; every log line
(any thread, any logger) and every trail event's reason, actor, target and details made during the test is kept; at
the end of the test, a secret found in any of them fails it, naming where.

Six-digit authenticator codes are not watched: too short to search for without false alarms among numbers (the
second-factor tests check that a wrong code is not in its event).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

_lock = threading.Lock()
_secrets: set[str] = set()
_texts: list[tuple[str, str]] = []


def remember(secret: str | bytes) -> None:
    """Watch ``secret`` (and, for bytes, the forms it would be printed in) until the test ends."""
    forms = [secret] if isinstance(secret, str) else [secret.hex(), base64.b64encode(secret).decode()]
    if isinstance(secret, bytes):
        forms.append(base64.urlsafe_b64encode(secret).decode().rstrip("="))
        forms.append(base64.b32encode(secret).decode().rstrip("="))
    with _lock:
        _secrets.update(form for form in forms if len(form) >= 8)


def _seen(where: str, text: str) -> None:
    with _lock:
        _texts.append((where, text))


class _Everything(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: its parts are what would be printed
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        _seen(f"log {record.name}", text)


def _event_made(event: Any) -> list[str | bytes]:
    """Every event is made by audit.trail.event(), whichever way it is then written: keep what it says."""
    parts = [event.reason, event.actor_label, event.target_id, event.details]
    _seen(f"event {event.action}", json.dumps(parts, default=str))
    return []


def _wrap_everywhere(original: Callable[..., Any], wrapper: Callable[..., Any]) -> None:
    """Put ``wrapper`` wherever ``original`` is reachable by name: its module and every module that imported it."""
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.split(".", 1)[0] not in {"accounts", "governance", "charters", "audit", "accord", "tests"}:
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, wrapper)


def _returning_secrets(original: Callable[..., Any], secrets_of: Callable[[Any], list[str | bytes]]) -> None:
    def watched(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        for secret in secrets_of(result):
            remember(secret)
        return result

    watched.__wrapped__ = original  # type: ignore[attr-defined]
    _wrap_everywhere(original, watched)


def _session_token(opened: Any) -> list[str | bytes]:
    token = getattr(opened, "token", None)
    return [token] if isinstance(token, str) else []


_handler = _Everything(level=logging.DEBUG)


@pytest.fixture(scope="session", autouse=True)
def _watch_the_generators() -> None:
    """Wrap the functions that make secrets, once Django's apps (and so every module) are loaded."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django_otp.plugins.otp_totp.models import TOTPDevice

    import accounts.factors
    import accounts.tokens
    import audit.trail
    import governance.decisions.services
    from tests.conftest import TEST_PASSWORD

    remember(TEST_PASSWORD)
    _returning_secrets(accounts.tokens.token_generate, lambda token: [token])
    _returning_secrets(accounts.factors._recovery_code, lambda code: [code, code.replace("-", "")])
    # A session is opened (its token) or refused (a deny code, which is no secret).
    _returning_secrets(governance.decisions.services.session_open, _session_token)
    generate_key = AESGCM.generate_key

    def watched_key(bit_length: int) -> bytes:
        key = generate_key(bit_length)
        remember(key)
        return key

    AESGCM.generate_key = staticmethod(watched_key)  # type: ignore[method-assign]
    field = TOTPDevice._meta.get_field("key")
    default_key = field.default

    def watched_totp_key() -> str:
        key = default_key()
        remember(key)
        remember(bytes.fromhex(key))
        return key

    field.default = watched_totp_key
    _returning_secrets(audit.trail.event, _event_made)


def leaks() -> list[str]:
    """Where a watched secret has appeared so far in this test (the secret shown by its first characters only)."""
    with _lock:
        return sorted({f"{where}: {secret[:6]}…" for where, text in _texts for secret in _secrets if secret in text})


def forget_what_was_seen() -> None:
    with _lock:
        _texts.clear()


@pytest.fixture(autouse=True)
def _no_secret_in_logs_or_the_trail() -> Iterator[None]:
    from tests.conftest import TEST_PASSWORD

    forget_what_was_seen()
    with _lock:
        _secrets.intersection_update({TEST_PASSWORD})
    # On the root logger at every test: a logging configuration (Django's, Celery's) replaces the root's handlers.
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    yield
    found = leaks()
    if found:
        pytest.fail("Secrets reached the logs or the trail:\n" + "\n".join(found), pytrace=False)
