"""Project-wide request middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied, TooManyFieldsSent, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults

from accord import dependencies
from accord.api_errors import bad_request
from accord.postgres import guard
from accord.validation import describe


class UnreadableAddressMiddleware:
    """First in MIDDLEWARE: a NUL character in the path or the query is a 400 (accord/api_errors.py bad_request).
    No name, number or filter of Accord holds one, and PostgreSQL refuses any text that does, so it would surface
    as a 500 wherever a view looked it up. Under /api/, a query parameter given twice is a 400 too. Reading the
    query here also refuses too many parameters (TooManyFieldsSent), once for all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Answered here rather than raised: a flood of garbage would otherwise log a traceback per request.
        try:
            parameters = list(request.GET.lists())
        except TooManyFieldsSent as error:
            return bad_request(request, error)
        if "\x00" in request.path or any("\x00" in text for name, values in parameters for text in (name, *values)):
            return bad_request(
                request,
                BadRequest(
                    "The address holds a NUL character (%00), which no name, number or query of Accord contains. "
                    "Remove it and send the request again."
                ),
            )
        # No API operation takes a list in its query: a repeated parameter is a mistake, and reading only its last
        # value (as Django does) would quietly ignore the others.
        repeated = sorted(name for name, values in parameters if len(values) > 1)
        if repeated and request.path.startswith("/api/"):
            message = f"Give each query parameter once; {', '.join(repeated)[:200]} came more than once."
            return bad_request(request, BadRequest(message))
        return self.get_response(request)


class DatabaseDeadlineMiddleware:
    """Within a web request, one answer of the database is waited for at most ACCORD_DB_REQUEST_TIMEOUT seconds
    (the session lookup and save included); the decision point asks for less (governance/decisions/apis.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with guard.deadline(settings.ACCORD_DB_REQUEST_TIMEOUT):
            return self.get_response(request)


class DependencyFailureMiddleware:
    """A view that fails because a service does not answer gets the 503 of accord/dependencies.py (an API's in
    its error shape) without a traceback in the log for every request of an outage. Failures outside views reach
    handler500, which answers the same (accord/api_errors.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not dependencies.unavailable(exception):
            return None
        if request.path.startswith("/api/"):
            return dependencies.api_unavailable(exception)
        return dependencies.page_unavailable(request, exception)


class PageRefusalMiddleware:
    """How a page says no, in one place.

    - A refusal a view raises (PermissionDenied, BadRequest) becomes its styled page here, so the log holds one
      line for it ("Forbidden: /path") rather than a traceback at WARNING for every refusal.
    - A service's ValidationError that no form caught (pages hand forms to services with
      accord.validation.errors_on) is a refusal too, never a 500: after a POST, the message on the page the form
      was sent from; otherwise a 400 page with the message.
    - A method the address does not take (Django's require_POST answers an empty 405) gets a page that says what
      the address is for.

    The API answers all of these in its own error shape (accord/api_errors.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not request.path.startswith("/api/") and not response.content:
            allowed = response.get("Allow", "")
            page = render(request, "405.html", {"allowed": allowed.replace(", ", " or ")}, status=405)
            page["Allow"] = allowed
            return page
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None
        if isinstance(exception, PermissionDenied):
            return defaults.permission_denied(request, exception)
        if isinstance(exception, BadRequest):
            return bad_request(request, exception)
        if isinstance(exception, ValidationError):
            back = request.headers.get("Referer", "")
            same_site = url_has_allowed_host_and_scheme(
                back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            if request.method == "POST" and same_site:
                messages.error(request, describe(exception))
                return HttpResponseRedirect(back)
            return render(
                request, "400.html", {"title": "This cannot be done", "message": describe(exception)}, status=400
            )
        return None
