"""Project-wide request middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from accord import dependencies
from accord.postgres import guard


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
