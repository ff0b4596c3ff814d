"""How pages say no: a styled page or a message where the person is, one log line, never a 500 or an empty 405."""

import html
import logging

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.test import RequestFactory

from accord.middleware import PageRefusalMiddleware
from governance.grants.services import grant_suspend
from governance.models import Grant
from tests.conftest import SETUP
from tests.helpers import sign_in


def shown(response):
    return html.unescape(response.content.decode())


def test_a_post_only_address_opened_in_the_browser_says_what_it_is_for(client, officer, make_grant):
    grant = make_grant()
    sign_in(client, officer)
    response = client.get(f"/grants/{grant.pk}/suspend/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "the target of a button" in shown(response) and "takes POST requests only" in shown(response)


def test_a_refused_page_logs_one_line_without_a_traceback(client, a_admin, make_grant, caplog):
    grant = make_grant()
    sign_in(client, a_admin)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post(f"/grants/{grant.pk}/suspend/", {"reason": "x"})
    assert response.status_code == 403 and "Only governance officers decide on grants." in shown(response)
    forbidden = [record for record in caplog.records if record.name == "django.request"]
    assert [record.getMessage() for record in forbidden] == [f"Forbidden: /grants/{grant.pk}/suspend/"]
    assert forbidden[0].exc_info is None


@pytest.mark.parametrize(
    ("address", "names"),
    [
        ("/governance/what-if/", "What-if replays"),
        ("/governance/reviews/", "Access reviews"),
        ("/governance/bundles/", "Policy bundles"),
        ("/governance/decisions/explain/?decision=abc", "Decision explanations"),
    ],
)
def test_each_host_only_page_names_itself_when_it_refuses(client, a_admin, address, names):
    sign_in(client, a_admin)
    response = client.get(address)
    assert response.status_code == 403
    assert f"{names} are for the host's officers and auditors." in shown(response)


def test_all_statuses_lists_every_grant(client, officer, make_grant):
    active, suspended = make_grant(), make_grant()
    grant_suspend(grant=suspended, by=SETUP, reason="Anomaly.")
    sign_in(client, officer)
    listed = client.get("/grants/?status=all")
    assert {grant.pk for grant in listed.context["grants"]} == {active.pk, suspended.pk}
    assert "No grants" not in shown(listed)
    assert "No grants revoked." in shown(client.get("/grants/?status=revoked"))


def test_an_unknown_status_is_a_400_that_lists_the_known_ones(client, officer):
    sign_in(client, officer)
    response = client.get("/grants/?status=bogus")
    assert response.status_code == 400
    assert "There is no grant status 'bogus'. Choose one of: all, requested, active" in shown(response)


def test_after_an_action_the_list_keeps_its_filter(client, officer, make_grant):
    grant = make_grant()
    sign_in(client, officer)
    response = client.post(f"/grants/{grant.pk}/suspend/", {"reason": "Check.", "next": "/grants/?status=all"})
    assert response.status_code == 302 and response["Location"] == "/grants/?status=all"
    assert Grant.objects.get(pk=grant.pk).status == "suspended"
    # The list's own forms carry where the officer was.
    assert 'name="next" value="/grants/?status=all"' in shown(client.get("/grants/?status=all"))


def test_an_action_never_redirects_off_the_site(client, officer, make_grant):
    grant = make_grant()
    sign_in(client, officer)
    response = client.post(f"/grants/{grant.pk}/suspend/", {"reason": "Check.", "next": "https://evil.example/"})
    assert response["Location"] == "/grants/"


def refused_by_a_service(request):
    raise ValidationError("The charter has ended; nothing can be granted under it.")


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_service_refusal_no_form_caught_is_never_a_500(rf: RequestFactory, method, db):
    request = getattr(rf, method)("/governance/somewhere/")
    middleware = PageRefusalMiddleware(lambda request: HttpResponse())
    try:
        refused_by_a_service(request)
    except ValidationError as error:
        response = middleware.process_exception(request, error)
    assert response is not None and response.status_code == 400
    assert "The charter has ended; nothing can be granted under it." in response.content.decode()
    assert "This cannot be done" in response.content.decode()


def test_a_service_refusal_after_a_form_goes_back_to_the_form_with_the_message(client, officer, rf):
    sign_in(client, officer)
    request = rf.post("/governance/somewhere/", HTTP_REFERER="http://testserver/grants/?status=all")
    request.session = client.session
    from django.contrib.messages.storage.fallback import FallbackStorage

    request._messages = FallbackStorage(request)
    response = PageRefusalMiddleware(lambda request: HttpResponse()).process_exception(
        request, ValidationError({"reason": "Say why in a sentence."})
    )
    assert response.status_code == 302 and response["Location"] == "http://testserver/grants/?status=all"
    assert [str(message) for message in request._messages] == ["reason: Say why in a sentence."]
