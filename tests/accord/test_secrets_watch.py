"""The secrets watch (tests/secrets_watch.py) catches what it is for: a token, a recovery code or a key that reaches
a log line or an event is found, however it was printed; a secret that stays where it belongs is not."""

from __future__ import annotations

import logging

from accounts.factors import recovery_codes_issue
from accounts.services import actor_for, api_token_issue
from audit.trail import Actor, event
from governance.vault.artefacts import data_key_create
from tests.conftest import SETUP
from tests.secrets_watch import forget_what_was_seen, leaks

logger = logging.getLogger("accord.test")


def test_a_token_in_a_log_line_is_caught(officer):
    _, raw = api_token_issue(user=officer, name="x", by=SETUP)
    assert leaks() == []  # issuing it wrote its event, which holds only its prefix
    logger.warning("calling with %s", raw)
    assert leaks() == [f"log accord.test: {raw[:6]}…"]
    forget_what_was_seen()


def test_a_recovery_code_in_an_event_is_caught_with_or_without_its_dash(officer):
    codes = recovery_codes_issue(user=officer, by=actor_for(officer))
    event(action="auth.login", actor=Actor.system("manage.py test"), reason=f"typed {codes[3].replace('-', '')}")
    assert leaks() == [f"event auth.login: {codes[3].replace('-', '')[:6]}…"]
    forget_what_was_seen()


def test_a_data_key_printed_as_hex_is_caught(officer):
    from governance.vault.artefacts import _unwrap

    data_key = data_key_create(scope="delivery", by=SETUP)
    logger.info("key %s", _unwrap(data_key).hex())
    assert len(leaks()) == 1
    forget_what_was_seen()


def test_the_test_password_in_a_log_line_is_caught(db):
    from tests.conftest import TEST_PASSWORD

    logger.error("login with %s failed", TEST_PASSWORD)
    assert leaks() == ["log accord.test: correc…"]
    forget_what_was_seen()
