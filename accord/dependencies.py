"""When a service Accord needs does not answer: what counts as that, and the answer people and programs get.

The decision point answers a deny (governance/decisions/apis.py); every other API call answers 503 in the API's
error shape with a Retry-After header; pages answer a styled 503 page that needs neither the database nor the session.
"""

from __future__ import annotations

import logging

import kombu.exceptions
import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from accord.postgres import guard

logger = logging.getLogger(__name__)

# OperationalError is what a database that is down, unreachable, silent, cancelling a statement or out of
# connections raises; InterfaceError a connection that was closed under us. Both pass; none is a bug of ours.
DATABASE_ERRORS = (OperationalError, InterfaceError)
OTHER_ERRORS = (redis.RedisError, kombu.exceptions.OperationalError)


def unavailable(error: BaseException | None) -> bool:
    return isinstance(error, DATABASE_ERRORS + OTHER_ERRORS)


def which(error: BaseException) -> str:
    return "database" if isinstance(error, DATABASE_ERRORS) else "Redis or the task broker"


def retry_after() -> int:
    """Seconds after which a retry may succeed: when the database breaker tries again, or its interval."""
    return guard.breaker.retry_after() if guard.breaker.is_open() else settings.ACCORD_DB_RETRY_SECONDS


def message(error: BaseException) -> str:
    return (
        f"Accord cannot reach its {which(error)} right now, so this request was not carried out. "
        f"Try again in {retry_after()} s; /healthz shows which service is down."
    )


def api_unavailable(error: BaseException) -> JsonResponse:
    """503 in the API's error shape (accord/api_errors.py), with Retry-After."""
    from accord.api_errors import error_body

    logger.warning("API call answered 503: %s: %s", error.__class__.__name__, error)
    response = JsonResponse(error_body("service_unavailable", message(error)), status=503)
    response["Retry-After"] = str(retry_after())
    return response


def page_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    """A styled 503 page, rendered without the request's context: the session and the user need the database."""
    logger.warning("Page %s answered 503: %s: %s", request.path, error.__class__.__name__, error)
    content: str
    try:
        content = loader.render_to_string(
            "503.html",
            {
                "message": message(error),
                "retry_after": retry_after(),
                "host_organisation_name": settings.ACCORD_HOST_ORGANISATION,
            },
        )
    except Exception:  # the page must come out even when templates or static files are broken too
        logger.exception("The 503 page could not be rendered; answering a plain one")
        content = f"<!doctype html><title>Unavailable</title><h1>Accord is unavailable</h1><p>{message(error)}</p>"
    response = HttpResponse(content, status=503)
    response["Retry-After"] = str(retry_after())
    return response
