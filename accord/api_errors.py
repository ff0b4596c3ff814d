"""One shape for every API error: {"error": {"code", "message", "fields"}}.

``code`` is for programs, ``message`` is a sentence a person can act on, ``fields`` maps an input field to its
messages when the input was at fault.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template import loader
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accord import dependencies

logger = logging.getLogger(__name__)


class Unreadable(exceptions.APIException):
    """A request that could not be read (see refusal)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"


def refusal(error: Exception) -> Unreadable:
    """Why a request was refused before it could be read, with its code: too large, too many fields or files, a
    NUL character in its address (accord/middleware.py), or anything else Django finds suspicious."""
    if isinstance(error, RequestDataTooBig):
        message = (
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes. Send less per request "
            "(a decision batch holds at most 1,000 items)."
        )
        return Unreadable(message, code="request_too_large")
    if isinstance(error, TooManyFieldsSent):
        message = (
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields in its query or its form. "
            "Send fewer."
        )
        return Unreadable(message, code="too_many_fields")
    if isinstance(error, TooManyFilesSent):
        message = (
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files. Send at most that many at "
            "a time."
        )
        return Unreadable(message, code="too_many_files")
    if isinstance(error, DisallowedHost):
        return Unreadable(
            "The Host header names a host this server does not answer to. Use the address Accord was set up with "
            "(DJANGO_ALLOWED_HOSTS).",
            code="disallowed_host",
        )
    if isinstance(error, BadRequest) and str(error):
        return Unreadable(str(error))
    return Unreadable("The request could not be read. Check its address, headers and body, and send it again.")


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if not isinstance(detail, dict):
        return {}
    return {str(key): _flatten(value) for key, value in detail.items()}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | HttpResponse | None:
    if dependencies.unavailable(exc):
        return dependencies.api_unavailable(exc)
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in the API", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged. Try again shortly."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = _invalid_body(exc)
    elif isinstance(exc, exceptions.APIException):
        response.data = _api_error_body(exc)
    return response


def _as_api_exception(exc: Exception) -> Exception:
    """Django's own exceptions as the DRF exceptions that answer them; any other exception as it is."""
    if isinstance(exc, SuspiciousOperation | BadRequest):
        return refusal(exc)
    if isinstance(exc, DjangoValidationError):
        # Services validate with full_clean(); their messages are meant for people already.
        return exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def _invalid_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    """Invalid input: each field's messages under ``fields``, and one message that names them all."""
    fields = _fields(exc.detail)
    non_field = fields.pop("non_field_errors", [])
    if fields:
        message = "Some fields are not valid: " + "; ".join(
            f"{name}: {' '.join(msgs)}" for name, msgs in fields.items()
        )
    else:
        message = " ".join(non_field or _flatten(exc.detail)) or "The request is not valid."
    if non_field and fields:
        message = " ".join(non_field) + " " + message
    return error_body("invalid", message, fields)


def _api_error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """Any other refusal: DRF's code, with a message that says what to do where DRF's does not."""
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    message = exc.detail if isinstance(exc.detail, str) else " ".join(_flatten(exc.detail))
    if isinstance(exc, exceptions.NotAuthenticated):
        message = "Send an API token as 'Authorization: Bearer <token>'. Officers and partner admins issue tokens."
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        message = f"{message} The API reads JSON only: send the body as JSON with Content-Type: application/json."
    return error_body(str(code), str(message))


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Under /api/ a 400 keeps the API's error shape; elsewhere it is a styled page saying what was wrong. The page
    is rendered without the request's context: the request is the part that could not be read."""
    refused = refusal(exception)
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(str(refused.get_codes()), str(refused.detail)), status=400)
    context = {"message": refused.detail, "host_organisation_name": settings.ACCORD_HOST_ORGANISATION}
    return HttpResponseBadRequest(loader.render_to_string("400.html", context))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Under /api/ a 404 keeps the API's error shape; elsewhere it is the usual page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("not_found", f"There is no API endpoint at {request.path}. The list is at /api/docs/."),
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its except block: the error is still at hand. A service that does not answer is
    # a 503 with Retry-After, not a 500, wherever it surfaced (a middleware's session lookup included).
    error = sys.exc_info()[1]
    if error is not None and dependencies.unavailable(error):
        if request.path.startswith("/api/"):
            return dependencies.api_unavailable(error)
        return dependencies.page_unavailable(request, error)
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged. Try again shortly."),
            status=500,
        )
    return defaults.server_error(request)
