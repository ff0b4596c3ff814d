"""The second factor through the web, with Django's test client: what a password alone reaches (nothing), codes
and their throttle, recovery codes, enrolment at a first login, step-up before irreversible acts, and an
officer's reset of someone else's factors. The browser tests (tests/e2e/test_second_factor_browser.py) drive the
same pages in Chromium, passkeys included."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts import proposals
from accounts.factors import recovery_codes_issue
from accounts.middleware import BEFORE_SECOND_FACTOR
from accounts.models import PersonSession, Proposal, RecoveryCode, RecoveryCodeDevice
from accounts.roles import Role
from accounts.services import actor_for, user_create
from accounts.sessions import VERIFIED
from audit.models import Event
from governance.models import Grant
from tests.conftest import SETUP, TEST_PASSWORD
from tests.helpers import every_address, persona_code, sign_in


def password_only(client, user):
    response = client.post("/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def test_a_password_alone_is_sent_to_the_second_factor(client, officer):
    response = password_only(client, officer)
    landing = client.get(response["Location"])
    assert landing.status_code == 302
    assert landing["Location"].startswith("/account/verify/?next=")


def test_a_password_alone_reaches_no_address_of_the_url_list(client, officer):
    """Generated from the URL patterns, the admin's included: pages send the person to give their factor, the
    session-authenticated API answers 403 saying so; only the login steps themselves answer."""
    password_only(client, officer)
    reached = []
    for path, name in every_address():
        if name in BEFORE_SECOND_FACTOR or path.startswith("/static/"):
            continue
        response = client.get(path)
        if path.startswith("/api/v1/"):
            refused = response.status_code == 403 and response.json()["error"]["code"] == "second_factor_required"
        else:
            refused = response.status_code == 302 and response["Location"].startswith("/account/verify/?next=")
        if not refused:
            reached.append(f"{path} ({name}): {response.status_code}")
    assert reached == []
    assert len(every_address()) > 150  # the admin's pages are in the list


def test_the_right_code_opens_the_account_and_is_recorded(client, officer):
    password_only(client, officer)
    response = client.post("/account/verify/", {"code": persona_code("olivia"), "next": "/grants/"})
    assert (response.status_code, response["Location"]) == (302, "/grants/")
    assert client.get("/").status_code == 200
    event = Event.objects.get(action="auth.second_factor")
    assert (event.actor_label, event.details["factor"]) == ("olivia", "authenticator")


def test_a_wrong_code_is_refused_recorded_without_the_code_and_then_throttled(client, officer):
    password_only(client, officer)
    wrong = "000000" if persona_code("olivia") != "000000" else "111111"
    first = client.post("/account/verify/", {"code": wrong})
    assert first.status_code == 200
    assert "wrong or used already" in first.content.decode()
    failed = Event.objects.get(action="auth.second_factor_failed")
    assert failed.actor_label == "olivia" and wrong not in str(failed.details)
    # django-otp's throttle: after a wrong code the next try waits, even with the right code, and says how long.
    throttled = client.post("/account/verify/", {"code": persona_code("olivia")})
    assert throttled.status_code == 429
    assert "wait 1 seconds" in throttled.content.decode() or "wait 2 seconds" in throttled.content.decode()
    assert client.get("/")["Location"].startswith("/account/verify/")


def test_a_code_works_once(client, officer):
    code = persona_code("olivia")
    password_only(client, officer)
    assert client.post("/account/verify/", {"code": code})["Location"] == "/"
    other = client.__class__()
    password_only(other, officer)
    assert other.post("/account/verify/", {"code": code}).status_code == 200  # replayed: refused


def test_a_recovery_code_works_once_and_only_its_digest_is_kept(client, officer):
    codes = recovery_codes_issue(user=officer, by=actor_for(officer))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.values_list("digest", flat=True))
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)
    password_only(client, officer)
    response = client.post("/account/verify/", {"code": codes[0].upper().replace("-", " ")}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "9 left" in response.content.decode()
    again = client.__class__()
    password_only(again, officer)
    assert again.post("/account/verify/", {"code": codes[0]}).status_code == 200


def test_new_recovery_codes_replace_the_old_ones(client, officer):
    old = recovery_codes_issue(user=officer, by=actor_for(officer))
    sign_in(client, officer)
    page = client.post("/account/recovery-codes/").content.decode()
    assert page.count("<li><code>") == 10
    assert RecoveryCodeDevice.objects.filter(user=officer).count() == 1
    other = client.__class__()
    password_only(other, officer)
    assert other.post("/account/verify/", {"code": old[0]}).status_code == 200


def test_a_first_login_enrols_an_authenticator_and_gets_recovery_codes(client, host):
    newcomer = user_create(username="nina", organisation=host, role=Role.AUDITOR, by=SETUP, password=TEST_PASSWORD)
    password_only(client, newcomer)
    assert client.get("/")["Location"] == "/account/enrol/?next=%2F"
    page = client.get("/account/enrol/?next=/")
    assert page.status_code == 200 and "Set up your second factor" in page.content.decode()
    qr = client.get("/account/enrol/authenticator.svg")
    assert qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content and qr["Cache-Control"] == "no-store"
    pending = TOTPDevice.objects.get(user=newcomer, confirmed=False)
    code = f"{TOTP(pending.bin_key).token():06d}"
    done = client.post("/account/enrol/", {"name": "phone", "code": code, "next": "/"})
    assert done.status_code == 200 and done.content.decode().count("<li><code>") == 10
    assert TOTPDevice.objects.get(user=newcomer).confirmed
    assert client.get("/").status_code == 200
    assert set(Event.objects.filter(target_id=str(newcomer.pk)).values_list("action", flat=True)) >= {
        "auth.factor_added",
        "auth.recovery_codes_issued",
        "auth.second_factor",
    }


def test_a_wrong_enrolment_code_confirms_nothing(client, host):
    newcomer = user_create(username="nina", organisation=host, role=Role.AUDITOR, by=SETUP, password=TEST_PASSWORD)
    password_only(client, newcomer)
    client.get("/account/enrol/")
    response = client.post("/account/enrol/", {"name": "phone", "code": "12345"})
    assert "does not match" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=newcomer, confirmed=True).exists()
    assert client.get("/")["Location"].startswith("/account/enrol/")


def test_adding_a_factor_later_asks_for_a_step_up(client, officer):
    sign_in(client, officer)
    _age_the_factor(client, minutes=10)
    response = client.get("/account/enrol/")
    assert response["Location"].startswith("/account/verify/?next=%2Faccount%2Fenrol%2F&step_up=1")


def _age_the_factor(client, *, minutes):
    session = client.session
    session[VERIFIED] = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    session.save()


def _proposed(kind: str, target: str, officer) -> Proposal:
    return proposals.proposal_make(kind=kind, target=target, reason="Bad approval.", by=actor_for(officer))


def test_confirming_a_rollback_asks_for_a_step_up_when_the_factor_is_old_and_is_done_after_it(
    client, officer, second_officer, before, make_grant
):
    _, _, bundle = before
    added = make_grant(actions=["infer"], purposes=["benchmarking"])
    proposal = _proposed("policy_rollback", bundle.hash, officer)
    page = f"/proposals/{proposal.pk}/"
    sign_in(client, second_officer)
    _age_the_factor(client, minutes=6)
    response = client.post(f"{page}confirm/", HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302
    assert response["Location"] == f"/account/verify/?next={quote(page, safe='')}&step_up=1"
    assert Grant.objects.get(pk=added.pk).status == "active"  # nothing was done
    assert "Confirm it is you" in client.get(response["Location"]).content.decode()
    back = client.post("/account/verify/", {"code": persona_code("oscar"), "step_up": "1", "next": page})
    assert back["Location"] == page
    client.post(f"{page}confirm/")
    assert Grant.objects.get(pk=added.pk).status == "suspended"


def test_proposing_needs_no_step_up_but_confirming_by_api_asks_a_session_for_one_and_not_a_token(
    client, api_as, officer, second_officer, before, make_grant
):
    _, _, bundle = before
    make_grant(actions=["infer"], purposes=["benchmarking"])
    sign_in(client, officer)
    _age_the_factor(client, minutes=6)
    url = f"/api/v1/policy/bundles/{bundle.seq}/rollback"
    proposed = client.post(url, {"reason": "test"}, content_type="application/json")
    assert proposed.status_code == 202  # nothing happens yet: no step-up needed
    confirm = f"/api/v1/proposals/{proposed.json()['id']}/confirm"
    sign_in(client, second_officer)
    _age_the_factor(client, minutes=6)
    refused = client.post(confirm, content_type="application/json")
    assert refused.status_code == 403 and "step-up window" in refused.json()["error"]["message"]
    assert Proposal.objects.get().status == "pending"
    by_token = api_as(second_officer).client.post(confirm, format="json")
    assert by_token.status_code == 200 and by_token.json()["status"] == "carried_out"


@pytest.mark.django_db
def test_confirming_the_end_of_a_charter_asks_for_a_step_up(client, officer, second_officer, live_charter):
    charter = live_charter.charter
    sign_in(client, officer)
    _age_the_factor(client, minutes=6)
    proposed = client.post(f"/governance/charters/{charter.slug}/terminate/", {"reason": "ends"})
    proposal = Proposal.objects.get(kind="charter_end", target=charter.slug)
    assert proposed["Location"] == f"/proposals/{proposal.pk}/"
    sign_in(client, second_officer)
    _age_the_factor(client, minutes=6)
    assert "step_up=1" in client.post(f"/proposals/{proposal.pk}/confirm/")["Location"]
    charter.refresh_from_db()
    assert charter.status == "active"


def test_an_officer_proposes_a_factor_reset_and_a_second_confirms_it_after_a_step_up(
    client, officer, second_officer, a_admin
):
    WebAuthnCredential.objects.create(user=a_admin, name="key", confirmed=True, credential_id=b"x", public_key=b"y")
    recovery_codes_issue(user=a_admin, by=actor_for(a_admin))
    theirs = client.__class__()
    sign_in(theirs, a_admin)
    sign_in(client, officer)
    proposed = client.post(f"/account/people/{a_admin.username}/reset-factors/", {"reason": "lost phone"}, follow=True)
    page = proposed.content.decode()
    assert "Nothing happens until another officer confirms it" in page and "passkey “key”" in page
    assert TOTPDevice.objects.filter(user=a_admin).exists()
    proposal = Proposal.objects.get(kind="factors_reset")
    sign_in(client, second_officer)
    _age_the_factor(client, minutes=6)
    assert "step_up=1" in client.post(f"/proposals/{proposal.pk}/confirm/")["Location"]
    assert TOTPDevice.objects.filter(user=a_admin).exists()
    sign_in(client, second_officer)
    done = client.post(f"/proposals/{proposal.pk}/confirm/", follow=True)
    assert f"3 factors of {a_admin.username} removed" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=a_admin).exists()
    assert not WebAuthnCredential.objects.filter(user=a_admin).exists()
    assert not RecoveryCodeDevice.objects.filter(user=a_admin).exists()
    assert not PersonSession.objects.filter(user=a_admin).exists()
    assert theirs.get("/")["Location"].startswith("/login/")
    event = Event.objects.get(action="auth.factors_reset")
    assert (event.actor_label, event.reason, event.target_id) == ("oscar", "lost phone", str(a_admin.pk))
    assert event.details["proposal"] == {
        "id": proposal.pk,
        "kind": "factors_reset",
        "proposed_by": "olivia",
        "confirmed_by": "oscar",
    }


def test_nobody_resets_their_own_factors_and_only_officers_propose_resets(client, officer, second_officer, auditor):
    sign_in(client, officer)
    own = client.post(f"/account/people/{officer.username}/reset-factors/", {"reason": "mine"}, follow=True)
    assert "another officer proposes that for you" in own.content.decode()
    assert not Proposal.objects.exists()
    # Proposed by another, the person named cannot be the one who confirms it.
    proposal = _proposed("factors_reset", officer.username, second_officer)
    sign_in(client, officer)
    refused = client.post(f"/proposals/{proposal.pk}/confirm/")
    assert refused.status_code == 403 and "another officer does that for you" in refused.content.decode()
    sign_in(client, auditor)
    assert client.post(f"/account/people/{officer.username}/reset-factors/", {"reason": "x"}).status_code == 403
    assert client.get("/account/people/").status_code == 403
    assert TOTPDevice.objects.filter(user=officer).exists()


def test_a_reset_without_a_reason_is_refused(client, officer, a_admin):
    sign_in(client, officer)
    response = client.post(
        f"/account/people/{a_admin.username}/reset-factors/",
        {"reason": " "},
        HTTP_REFERER="http://testserver/account/people/",
        follow=True,
    )
    assert "Say why: the second officer reads it" in response.content.decode()
    assert TOTPDevice.objects.filter(user=a_admin).exists() and not Proposal.objects.exists()


def test_a_person_cannot_remove_their_only_factor(client, officer):
    sign_in(client, officer)
    device = TOTPDevice.objects.get(user=officer)
    response = client.post(
        "/account/security/factors/remove/",
        {"factor": device.persistent_id},
        HTTP_REFERER="http://testserver/account/security/",
        follow=True,
    )
    assert "only factor" in response.content.decode()
    assert TOTPDevice.objects.filter(user=officer).exists()


def test_the_security_page_lists_the_persons_factors_and_sessions(client, officer):
    sign_in(client, officer)
    page = client.get("/account/security/", HTTP_USER_AGENT="TestBrowser/1.0").content.decode()
    assert "test authenticator" in page and "this one" in page


def test_the_demo_hint_shows_only_to_a_demo_person_in_development(client, officer, settings):
    from accounts.factors import DEMO_AUTHENTICATOR

    password_only(client, officer)
    assert 'id="demo-hint"' not in client.get("/account/verify/").content.decode()
    TOTPDevice.objects.filter(user=officer).update(name=DEMO_AUTHENTICATOR)
    assert 'id="demo-hint"' in client.get("/account/verify/").content.decode()
    settings.PRODUCTION = True
    assert 'id="demo-hint"' not in client.get("/account/verify/").content.decode()
