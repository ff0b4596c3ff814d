import pytest
from django.utils import timezone

from accounts.models import ApiToken, Organisation
from audit.models import Event
from tests.conftest import TEST_PASSWORD
from tests.helpers import sign_in


def test_login_is_recorded(client, officer):
    response = client.post("/login/", {"username": "olivia", "password": TEST_PASSWORD})
    assert response.status_code == 302
    event = Event.objects.get(action="auth.login")
    assert (event.actor_label, event.actor_type, event.outcome) == ("olivia", "user", "success")


def test_failed_login_is_recorded_without_the_password(client, a_admin):
    response = client.post("/login/", {"username": "northwind-admin", "password": "wrong-password-123"})
    assert response.status_code == 200
    assert "Check both and try again" in response.content.decode()
    event = Event.objects.get(action="auth.login_failed")
    assert (event.actor_label, event.outcome, event.partner) == ("northwind-admin", "failure", "northwind")
    assert "wrong-password-123" not in str(event.__dict__)


def test_a_principal_cannot_log_in_to_the_web(client, a_principal):
    response = client.post("/login/", {"username": "northwind-gateway", "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_is_recorded(client, officer):
    sign_in(client, officer)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert Event.objects.filter(action="auth.logout", actor_label="olivia").exists()


def test_pages_need_a_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def issue_form_nonce(client):
    return client.get("/account/tokens/").context["form"].initial["nonce"]


def test_issuing_a_token_in_the_web_shows_it_once(client, a_admin, a_principal):
    sign_in(client, a_admin)
    response = client.post(
        "/account/tokens/",
        {"name": "gateway", "owner": "northwind-gateway", "expires_in_days": 30, "nonce": issue_form_nonce(client)},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="new-token">acc_' in page
    again = client.get("/account/tokens/").content.decode()
    assert 'id="new-token"' not in again
    assert "gateway" in again


def test_sending_the_issue_form_twice_issues_one_token(client, a_admin):
    sign_in(client, a_admin)
    form = {"name": "gateway", "owner": "northwind-admin", "expires_in_days": 30, "nonce": issue_form_nonce(client)}
    client.post("/account/tokens/", form)
    again = client.post("/account/tokens/", form, follow=True)
    assert "already sent, so no second token was issued" in again.content.decode()
    assert ApiToken.objects.filter(name="gateway").count() == 1


def test_an_issue_form_without_its_one_time_value_issues_nothing(client, a_admin):
    sign_in(client, a_admin)
    form = {"name": "gateway", "owner": "northwind-admin", "expires_in_days": 30, "nonce": "made-up"}
    client.post("/account/tokens/", form)
    assert not ApiToken.objects.filter(name="gateway").exists()


@pytest.mark.parametrize("persona", ["a_admin", "officer"])
def test_a_token_for_a_partner_whose_collaboration_ended_is_refused_on_the_form(request, client, persona, a_principal):
    Organisation.objects.filter(pk=a_principal.organisation_id).update(access_ended_at=timezone.now())
    sign_in(client, request.getfixturevalue(persona))
    form = {"name": "gateway", "owner": "northwind-gateway", "expires_in_days": 30, "nonce": issue_form_nonce(client)}
    response = client.post("/account/tokens/", form)
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("ended on" in error and "until a new charter with them is approved" in error for error in errors)
    assert 'id="new-token"' not in response.content.decode()
    assert not ApiToken.objects.filter(name="gateway").exists()
    # The form shown again can be sent again (its one-time value is a fresh one), and is refused the same way.
    again = client.post("/account/tokens/", {**form, "nonce": response.context["form"].data["nonce"]})
    assert "already sent" not in again.content.decode()
    assert again.context["form"].non_field_errors()
