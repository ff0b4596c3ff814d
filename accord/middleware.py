"""Project-wide request middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from accord import dependencies
from accord.api_errors import bad_request
from accord.postgres import guard


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
    (the session lookup and save included); the decision point asks for less (governance/apis.py)."""

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
