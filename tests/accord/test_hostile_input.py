"""Hostile input is a 4xx, never a 500: in the API's error shape under /api/, a styled page elsewhere (issue 17).

Bodies nested too deep, NUL characters in addresses, too many fields or files, paging parameters out of range and
numbers where text belongs; each is refused once, where every request passes (the parser, the middleware, the
error handlers, the pagination class, the shared text field).
"""

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import get_resolver
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accord.fields import TextField, TextSlugRelatedField
from accord.pagination import MAX_LIMIT
from accounts.services import actor_for
from audit.apis import NewestFirst
from audit.models import Event
from governance.decisions.apis import DecisionInputSerializer
from governance.grants.roles import partner_role_create
from governance.models import PolicyBundle
from governance.policy import bundles
from tests.helpers import sign_in

# Usage counters start fresh in each test, as in tests/governance/ (tests/world.py says why).
pytestmark = pytest.mark.usefixtures("fresh_usage_counters")

STYLED = "pico.min.css"  # the layout of base.html: a page in Accord's style, not Django's bare one


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


@pytest.fixture
def callers(api_as, officer, a_admin, a_principal):
    return {"officer": api_as(officer), "admin": api_as(a_admin), "principal": api_as(a_principal)}


def quiet(caller):
    """A client that answers a 500 as a response, so a test can say which status it got instead of a traceback."""
    caller.client.raise_request_exception = False
    return caller.client


# --- 1. JSON nested too deep -----------------------------------------------------------------------------

JSON_ENDPOINTS = [
    ("principal", "/api/v1/decisions"),
    ("principal", "/api/v1/decisions/batch"),
    ("principal", "/api/v1/sessions"),
    ("admin", "/api/v1/tokens/issue"),
    ("admin", "/api/v1/grants/request"),
    ("admin", "/api/v1/roles/create"),
    ("admin", "/api/v1/audit/exports"),
    ("admin", "/api/v1/charters/northwind-evaluation/acknowledge"),
    ("officer", "/api/v1/assets/register"),
]


@pytest.mark.parametrize(("who", "url"), JSON_ENDPOINTS)
def test_json_nested_a_thousand_deep_is_a_400_on_every_json_endpoint(callers, live_charter, who, url):
    response = quiet(callers[who]).post(url, '{"name": ' + nested(1000) + "}", content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "request_too_deep"
    assert "64" in error["message"]


def test_json_64_levels_deep_is_still_read(callers, live_charter):
    # The 64th level is read, and the field is then refused for what it is: not text.
    response = quiet(callers["admin"]).post(
        "/api/v1/tokens/issue", '{"name": ' + nested(63) + "}", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["fields"]["name"] == ["Must be text, not list."]
    too_deep = quiet(callers["admin"]).post(
        "/api/v1/tokens/issue", '{"name": ' + nested(64) + "}", content_type="application/json"
    )
    assert too_deep.json()["error"]["code"] == "request_too_deep"


def test_brackets_inside_strings_are_not_nesting(callers, live_charter):
    name = '\\"' + "[{" * 35  # after an escaped quote, still inside the string
    response = callers["admin"].client.post(
        "/api/v1/tokens/issue", '{"name": "' + name + '"}', content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == name.replace('\\"', '"')


def test_a_batch_envelope_nested_too_deep_is_refused_whole(callers, live_charter, atlas):
    good = '{"action": "infer", "asset": "' + atlas + '", "purpose": "safety-evaluation"}'
    body = '{"requests": [' + good + ", " + nested(1000) + "]}"
    response = quiet(callers["principal"]).post("/api/v1/decisions/batch", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "request_too_deep"
    assert not Event.objects.filter(action__startswith="decision.").exists()


# --- 5. Invalid batch items are answered in place -----------------------------------------------------------


def test_null_numbers_lists_and_over_deep_objects_in_a_batch_are_denied_in_place(callers, make_grant, atlas):
    make_grant()
    good = {"action": "infer", "asset": atlas, "purpose": "safety-evaluation"}
    deep = {**good, "context": {"facts": json.loads(nested(20))}}  # 22 levels in all
    response = callers["principal"].client.post(
        "/api/v1/decisions/batch", {"requests": [good, None, 5, [good], deep, good]}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [result["allow"] for result in results] == [True, False, False, False, False, True]
    assert all(result["reasons"][0]["code"] == "invalid_request" for result in results[1:5])
    assert "Item 1" in results[1]["reasons"][0]["message"] and "JSON object" in results[1]["reasons"][0]["message"]
    assert "Item 4" in results[4]["reasons"][0]["message"] and "16 levels" in results[4]["reasons"][0]["message"]


def test_a_single_decision_nested_beyond_a_request_depth_is_a_400(callers, live_charter, atlas):
    context = {"facts": json.loads(nested(20))}
    response = quiet(callers["principal"]).post(
        "/api/v1/decisions",
        {"action": "infer", "asset": atlas, "purpose": "safety-evaluation", "context": context},
        format="json",
    )
    assert response.status_code == 400 and "16 levels" in response.json()["error"]["message"]


# --- 2. NUL characters in addresses and query parameters ----------------------------------------------------

NUL_API = [
    ("admin", "/api/v1/certificates/%00"),
    ("officer", "/api/v1/policy/bundles/%00"),
    ("officer", "/api/v1/policy/bundles/diff?from=%00&to=1"),
    ("officer", "/api/v1/assets?kind=model&owner=%00"),
    ("admin", "/api/v1/no-such-endpoint%00"),
]
NUL_PAGES = [
    "/trail/?partner=%00",
    "/trail/?action=grant.%00",
    "/governance/artefacts/%00/",
    "/governance/artefacts/?page=%00",
    "/governance/bundles/%00/",
    "/governance/bundles/diff/?from=%00&to=1",
    "/governance/decisions/explain/?decision=%00",
    "/grants/?status=%00",
    "/governance/certificates/%00/",
]


@pytest.mark.parametrize(("who", "url"), NUL_API)
def test_a_nul_character_in_an_api_address_is_a_400_in_the_error_shape(callers, live_charter, who, url):
    response = quiet(callers[who]).get(url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "bad_request" and "NUL" in error["message"]


@pytest.mark.parametrize("url", NUL_PAGES)
def test_a_nul_character_in_a_page_address_is_a_styled_400(client, officer, live_charter, url):
    sign_in(client, officer)
    client.raise_request_exception = False
    response = client.get(url)
    assert response.status_code == 400
    page = response.content.decode()
    assert STYLED in page and "NUL" in page


def test_a_nul_character_is_a_400_before_any_token_is_asked_for(client, db):
    response = client.get("/api/v1/certificates/%00")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


# --- 3. Too many fields or files ------------------------------------------------------------------------------

MANY_FIELDS = "&".join(f"field{number}=1" for number in range(1001))


def many_files():
    return {f"file{number}": SimpleUploadedFile(f"f{number}.txt", b"x") for number in range(101)}


@pytest.mark.parametrize("body", ["form", "files"])
def test_a_form_or_upload_of_any_size_is_refused_by_the_api_which_reads_json(callers, live_charter, body):
    client = quiet(callers["admin"])
    if body == "form":
        response = client.post("/api/v1/tokens/issue", MANY_FIELDS, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post("/api/v1/tokens/issue", many_files(), format="multipart")
    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json()["error"]["message"]


def test_more_than_a_thousand_query_parameters_is_a_400_on_the_api(callers, live_charter):
    response = quiet(callers["admin"]).get("/api/v1/grants?" + MANY_FIELDS)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "too_many_fields" and "1,000" in response.json()["error"]["message"]


def test_more_than_a_thousand_form_fields_is_a_styled_400_page(client, a_admin, live_charter):
    sign_in(client, a_admin)
    response = client.post("/grants/request/", MANY_FIELDS, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert STYLED in response.content.decode() and "1,000" in response.content.decode()


def test_more_than_a_hundred_files_is_a_styled_400_page(client, officer, live_charter):
    sign_in(client, officer)
    response = client.post("/governance/artefacts/", many_files())
    assert response.status_code == 400
    assert STYLED in response.content.decode() and "100 files" in response.content.decode()


# --- 4. Paging ------------------------------------------------------------------------------------------------


def test_a_limit_beyond_a_bigint_is_capped_not_a_500(callers, live_charter):
    response = quiet(callers["officer"]).get("/api/v1/partners?limit=" + "9" * 30)
    assert response.status_code == 200, response.content
    assert {partner["slug"] for partner in response.json()["results"]} == {"northwind", "helix"}


def test_a_limit_above_the_maximum_is_capped_at_it(callers, live_charter):
    response = callers["officer"].client.get("/api/v1/partners?limit=1000&offset=1")
    assert f"limit={MAX_LIMIT}" in response.json()["previous"]


def test_the_default_pagination_caps_the_limit():
    paginator = api_settings.DEFAULT_PAGINATION_CLASS()
    assert paginator.get_limit(Request(RequestFactory().get("/", {"limit": "100000"}))) == MAX_LIMIT
    assert MAX_LIMIT == 500  # as docs/integration-guide.md says


@pytest.mark.parametrize(
    ("query", "name"),
    [("offset=null", "offset"), ("offset=-1", "offset"), ("limit=abc", "limit"), ("limit=-5", "limit"),
     ("limit=0", "limit"), ("limit=1.5", "limit"), ("limit=%205", "limit"), ("offset=1_000", "offset")],
)  # fmt: skip
def test_a_limit_or_offset_that_is_not_a_whole_number_is_a_400_naming_it(callers, live_charter, query, name):
    response = quiet(callers["officer"]).get("/api/v1/partners?" + query)
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [name]


def test_the_trail_api_honours_limit(callers, live_charter):
    client = callers["officer"].client
    first = client.get("/api/v1/audit/events?limit=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["results"][0]["id"] < first["results"][1]["id"]


def test_the_trail_api_caps_its_limit():
    assert NewestFirst().get_page_size(Request(RequestFactory().get("/", {"limit": "9" * 30}))) == MAX_LIMIT


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=-1"])
def test_the_trail_api_refuses_a_limit_that_is_not_a_whole_number(callers, live_charter, query):
    response = quiet(callers["officer"]).get("/api/v1/audit/events?" + query)
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["limit"]


@pytest.mark.parametrize(
    "cursor",
    [base64.b64encode(forged).decode() for forged in (b"p=abc", b"p=%00", b"p=-1", b"p=" + b"9" * 30, b"o=x")]
    + ["not-a-cursor!"],
)
def test_a_forged_trail_cursor_is_a_400_naming_the_cursor(callers, live_charter, cursor):
    response = quiet(callers["officer"]).get(f"/api/v1/audit/events?cursor={cursor}")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["cursor"]


@pytest.mark.parametrize("page", ["abc", "9" * 30, "-1", "1e400", "9" * 5000])
def test_a_page_number_out_of_range_or_not_a_number_shows_a_page(client, officer, live_charter, page):
    sign_in(client, officer)
    assert client.get("/governance/bundles/", {"page": page}).status_code == 200
    assert client.get("/governance/exits/", {"page": page}).status_code == 200


# --- 5. Strings must be strings ------------------------------------------------------------------------------


def test_a_number_is_not_a_token_name(callers, live_charter):
    response = quiet(callers["admin"]).post("/api/v1/tokens/issue", {"name": 5}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": ["Must be text, not int."]}


def test_numbers_are_not_a_role_slug_or_title(callers, live_charter):
    response = quiet(callers["admin"]).post("/api/v1/roles/create", {"slug": 5, "title": True}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "slug": ["Must be text, not int."],
        "title": ["Must be text, not bool."],
    }


def test_numbers_are_not_text_in_a_grant_request(callers, live_charter):
    response = quiet(callers["admin"]).post(
        "/api/v1/grants/request",
        {"principal": 1, "asset": 2, "actions": [3], "purposes": ["ok", 4], "justification": 5.0},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["principal"] == fields["asset"] == ["Must be text, not int."]
    assert fields["actions"] == ["0: Must be text, not int."] and fields["purposes"] == ["1: Must be text, not int."]
    assert fields["justification"] == ["Must be text, not float."]


def test_numbers_are_not_text_when_registering_an_asset(callers, live_charter):
    response = quiet(callers["officer"]).post(
        "/api/v1/assets/register", {"name": 5, "kind": "model", "owner": 7, "description": False}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "owner", "description"}


def test_numbers_are_not_trainings_or_partners(callers, live_charter):
    acknowledged = quiet(callers["admin"]).post(
        "/api/v1/charters/northwind-evaluation/acknowledge", {"version": 1, "trainings": [5]}, format="json"
    )
    assert acknowledged.status_code == 400 and "trainings" in acknowledged.json()["error"]["fields"]
    exported = quiet(callers["admin"]).post("/api/v1/audit/exports", {"partner": 5}, format="json")
    assert exported.status_code == 400 and "partner" in exported.json()["error"]["fields"]


def test_numbers_are_not_a_role_member_or_a_rollback_reason(callers, live_charter, partner_a, a_admin):
    partner_role_create(partner=partner_a, slug="eval-jobs", by=actor_for(a_admin))
    member = quiet(callers["admin"]).post("/api/v1/roles/eval-jobs/members", {"principal": 5}, format="json")
    assert member.status_code == 400 and "principal" in member.json()["error"]["fields"]
    bundles.bundles_record()
    ref = PolicyBundle.objects.first().hash
    rollback = quiet(callers["officer"]).post(
        f"/api/v1/policy/bundles/{ref}/rollback", {"dry_run": True, "reason": 5}, format="json"
    )
    assert rollback.status_code == 400 and "reason" in rollback.json()["error"]["fields"]


def _input_fields(serializer_class):
    """Every field a client's input goes through: the serializer's own, and the children of its lists and maps."""
    pending = list(serializer_class().fields.values())
    while pending:
        field = pending.pop()
        yield field
        if isinstance(field, serializers.ListField | serializers.DictField):
            pending.append(field.child)


def _api_input_serializers():
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) != "api":
            continue
        for include in pattern.url_patterns:
            for route in include.url_patterns:
                view = route.callback.view_class
                for name in ("InputSerializer", "FilterSerializer"):
                    if hasattr(view, name):
                        yield f"{view.__name__}.{name}", getattr(view, name)
    yield "DecisionInputSerializer", DecisionInputSerializer


def test_every_text_input_of_the_api_refuses_what_is_not_text():
    found = dict(_api_input_serializers())
    assert len(found) >= 14  # the walk reaches every input serializer of the API (14 when this was written)
    coercing = [
        f"{name}.{field.field_name or field.parent.field_name}"
        for name, serializer_class in found.items()
        for field in _input_fields(serializer_class)
        if isinstance(field, serializers.CharField | serializers.SlugRelatedField)
        and not isinstance(field, TextField | TextSlugRelatedField)
    ]
    assert coercing == []


# --- Found by bench/hostile.py and the reviews --------------------------------------------------------------


def test_a_trail_page_number_that_only_looks_like_digits_shows_the_first_page(client, officer):
    sign_in(client, officer)
    assert client.get("/trail/?before=%C2%B2").status_code == 200  # "²": isdigit() says yes, int() says no


def test_an_export_of_a_partner_that_is_no_slug_is_refused_and_queues_nothing(client, officer, callers):
    from audit.models import ExportJob

    sign_in(client, officer)
    page = client.post("/trail/exports/", {"partner": "north\x00wind", "format": "jsonl"}, follow=True)
    assert page.status_code == 200 and "not a partner&#x27;s slug" in page.content.decode()
    api = quiet(callers["officer"]).post("/api/v1/audit/exports", {"partner": "north\x00wind"})
    assert api.status_code == 400 and "partner" in api.json()["error"]["fields"]
    assert not ExportJob.objects.exists()


def test_a_query_parameter_given_twice_is_a_400_naming_it(callers, live_charter):
    response = quiet(callers["officer"]).get("/api/v1/partners?limit=5&limit=junk")
    assert response.status_code == 400 and "limit came more than once" in response.json()["error"]["message"]


@pytest.mark.parametrize("ref", ["%C2%B9", "%D9%A3"])  # "¹" and an Arabic-Indic 3: digits to isdigit(), not to int()
def test_a_bundle_named_by_a_digit_of_another_script_is_not_found(callers, live_charter, ref):
    client = quiet(callers["officer"])
    assert client.get(f"/api/v1/policy/bundles/{ref}").status_code == 404
    assert client.post(f"/api/v1/policy/bundles/{ref}/rollback", {"dry_run": True}).status_code == 404


def test_optional_query_parameters_sent_empty_are_read_as_left_out(callers, live_charter):
    client = quiet(callers["officer"])
    assert client.get("/api/v1/audit/events?until=&outcome=&cursor=").status_code == 200
    assert client.get("/api/v1/grants?limit=&offset=").status_code == 200
    assert client.get("/api/v1/assets?kind=").status_code == 200
