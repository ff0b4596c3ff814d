"""Lockout after repeated failed logins (per account and per address), sessions people see and end, their idle and
absolute lifetimes, a deactivation that stops a person's sessions and tokens at once, and the per-address cap on
recorded bad bearer tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, PersonSession
from accounts.services import actor_for, token_rejection_record, user_deactivate
from accounts.sessions import SEEN, STARTED
from audit.context import request_context
from audit.models import Event
from tests.conftest import TEST_PASSWORD
from tests.helpers import sign_in

LIMIT = 5  # ACCORD_LOGIN_FAILURE_LIMIT's default


def attempt(client, username, password, address="10.0.0.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, officer):
    for _ in range(LIMIT - 1):
        assert attempt(client, "olivia", "wrong password!").status_code == 200
    locked = attempt(client, "olivia", "wrong password!")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "try again in 15 minutes" in page and "ask a governance officer to unlock it" in page
    assert int(locked["Retry-After"]) > 14 * 60
    right = attempt(client, "olivia", TEST_PASSWORD, address="10.0.0.8")  # another address: the account is locked
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    locks = Event.objects.filter(action="auth.locked_out")
    assert locks.count() == 1  # once when the lock begins, not once per refused try
    assert (locks.get().details["username"], locks.get().target_id) == ("olivia", str(officer.pk))


def test_failures_for_many_names_from_one_address_lock_the_address(client, officer):
    for n in range(LIMIT):
        attempt(client, f"guess-{n}", "wrong password!", address="10.9.9.9")
    assert attempt(client, "olivia", TEST_PASSWORD, address="10.9.9.9").status_code == 429
    assert attempt(Client(), "olivia", TEST_PASSWORD, address="10.1.1.1").status_code == 302  # elsewhere: fine


def test_an_officer_unlocks_an_account_and_it_is_recorded(client, officer, second_officer):
    for _ in range(LIMIT):
        attempt(client, "oscar", "wrong password!")
    assert attempt(client, "oscar", TEST_PASSWORD).status_code == 429
    desk = Client()
    sign_in(desk, officer)
    people = desk.get("/account/people/").content.decode()
    assert "locked until" in people
    desk.post("/account/people/unlock/", {"kind": "account", "value": "oscar"})
    assert Event.objects.filter(action="auth.unlocked", actor_label="olivia").exists()
    # The address is still locked (its five failures stand); from another one, oscar gets in.
    assert attempt(Client(), "oscar", TEST_PASSWORD, address="10.0.0.99").status_code == 302


def test_unlocking_is_for_officers(client, auditor):
    sign_in(client, auditor)
    assert client.post("/account/people/unlock/", {"kind": "account", "value": "x"}).status_code == 403


def test_a_person_sees_their_sessions_and_ends_another_one(officer):
    laptop, phone = Client(HTTP_USER_AGENT="Laptop/1"), Client(HTTP_USER_AGENT="Phone/2")
    sign_in(laptop, officer)
    sign_in(phone, officer)
    assert PersonSession.objects.filter(user=officer).count() == 2
    page = laptop.get("/account/security/").content.decode()
    assert page.count("/end/") == 1  # the other one; this one is marked, not offered
    handle = page.split("/account/security/sessions/")[1].split("/end/")[0]
    laptop.post(f"/account/security/sessions/{handle}/end/")
    assert phone.get("/")["Location"].startswith("/login/")
    assert laptop.get("/").status_code == 200
    ended = Event.objects.get(action="auth.session_ended", actor_label="olivia")
    assert ended.details == {"sessions": 1, "session": handle}  # its name on the page, never its key


def test_nobody_ends_another_persons_session_by_its_handle(officer, auditor):
    theirs, mine = Client(), Client()
    sign_in(theirs, officer)
    sign_in(mine, auditor)
    key = PersonSession.objects.get(user=officer).session_key
    from accounts.sessions import session_handle

    mine.post(f"/account/security/sessions/{session_handle(key)}/end/")
    assert theirs.get("/").status_code == 200


def _age_session(client, key, *, minutes):
    session = client.session
    session[key] = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    session.save()


def test_a_session_unused_for_the_idle_limit_ends(client, officer):
    sign_in(client, officer)
    _age_session(client, SEEN, minutes=31)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/")
    assert "30 minutes unused" in response.content.decode()


def test_a_session_ends_at_its_absolute_lifetime_however_busy(client, officer):
    sign_in(client, officer)
    _age_session(client, STARTED, minutes=12 * 60 + 1)
    assert client.get("/")["Location"].startswith("/login/")


def test_a_used_session_notes_when_it_was_last_seen(client, officer):
    sign_in(client, officer)
    _age_session(client, SEEN, minutes=5)
    client.get("/")
    seen = PersonSession.objects.get(user=officer).last_seen_at
    assert seen is not None and timezone.now() - seen < timedelta(minutes=1)


def test_deactivating_a_person_stops_their_sessions_and_tokens_at_once(client, officer, a_admin, api_as):
    caller = api_as(a_admin)
    assert caller.client.get("/api/v1/me").status_code == 200
    theirs = Client()
    sign_in(theirs, a_admin)
    assert theirs.get("/portal/").status_code == 200
    sign_in(client, officer)
    client.post(f"/account/people/{a_admin.username}/deactivate/", {"reason": "left the company"})
    assert theirs.get("/")["Location"].startswith("/login/")
    assert caller.client.get("/api/v1/me").status_code == 401
    assert not ApiToken.objects.filter(user=a_admin, revoked_at__isnull=True).exists()
    assert not PersonSession.objects.filter(user=a_admin).exists()
    event = Event.objects.get(action="user.deactivated")
    assert (event.reason, event.details["tokens_revoked"], event.details["sessions_ended"]) == (
        "left the company",
        1,
        1,
    )
    assert attempt(Client(), a_admin.username, TEST_PASSWORD).status_code == 200  # and no new login


def test_nobody_deactivates_themselves_and_only_officers_deactivate(client, officer, a_admin):
    with pytest.raises(Exception, match="cannot deactivate yourself"):
        user_deactivate(user=officer, by=actor_for(officer), reason="x")
    sign_in(client, a_admin)
    # The host's people are not a partner's to see: a 404, as for nobody (accounts/matrix.py hidden_from).
    assert client.post(f"/account/people/{officer.username}/deactivate/", {"reason": "x"}).status_code == 404


def test_a_flood_of_distinct_bad_tokens_from_one_address_is_capped_in_the_trail(settings, db):
    settings.ACCORD_TOKEN_REJECTIONS_PER_ADDRESS = 5
    # Addresses of this run only: the counters live a minute in the shared cache.
    flood, other = (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{n}" for n in (1, 2))
    with request_context(request_id="flood", client_address=flood):
        for n in range(40):
            token_rejection_record(raw=f"acc_junk_{flood}_{n}")
    with request_context(request_id="other", client_address=other):
        token_rejection_record(raw=f"acc_junk_{other}")
    assert Event.objects.filter(action="auth.token_rejected").count() == 6  # five from the flood, one elsewhere
    capped = Event.objects.get(action="auth.token_rejections_capped")
    assert capped.details == {"address": flood, "cap": 5}


def test_tries_during_a_lockout_are_recorded_as_refused_unchecked(client, officer):
    for _ in range(LIMIT + 1):
        attempt(client, "olivia", "wrong password!")
    reasons = list(Event.objects.filter(action="auth.login_failed").order_by("id").values_list("reason", flat=True))
    assert reasons == ["Wrong username or password."] * LIMIT + ["Refused: too many failed logins (locked out)."]
