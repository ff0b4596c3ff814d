"""Gives each request an id (the caller's X-Request-ID when it is well formed) for the trail and the logs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import request_context

# A caller's id is kept only when it is short and plain, so it cannot smuggle anything into logs or exports.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _ACCEPTABLE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        # REMOTE_ADDR only: a forwarded-for header is whatever the client wants it to be unless a proxy we
        # trust rewrote it, and gunicorn behind a proxy is configured to put the real address here.
        client_address = request.META.get("REMOTE_ADDR") or None
        with request_context(request_id=request_id, client_address=client_address):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
