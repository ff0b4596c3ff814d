"""JSON bodies with a size limit: a body larger than the limit is refused before it is parsed."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "request_too_large"


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.ACCORD_API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge(
                f"The request body is larger than {limit:,} bytes. Send fewer items per batch (at most 1,000)."
            )
        return super().parse(io.BytesIO(body), media_type, parser_context)
