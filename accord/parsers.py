"""JSON bodies with a size and a depth limit: a body larger than the limit is refused before it is parsed, one
nested deeper than the limit once it is, so that nothing after the parser (a serializer, a JSONField, the trail's
details) ever walks a structure deep enough to exhaust the stack."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser

# Far more than any Accord request needs (a decision request nests two levels, a batch of them four), far less than
# Python's recursion limit.
MAX_DEPTH = 64


class RequestTooLarge(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "request_too_large"


class RequestTooDeep(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "request_too_deep"


def nesting_depth(value: Any) -> int:
    """How deep arrays and objects nest in parsed JSON: 0 for a string or a number, 1 for [] or {"a": 1}.

    Found a level at a time rather than by recursion, so that no input is too deep to be measured.
    """
    depth = 0
    level = [value] if isinstance(value, dict | list) else []
    while level:
        depth += 1
        children = [child for node in level for child in (node.values() if isinstance(node, dict) else node)]
        level = [child for child in children if isinstance(child, dict | list)]
    return depth


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.ACCORD_API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge(
                f"The request body is larger than {limit:,} bytes. Send fewer items per batch (at most 1,000)."
            )
        too_deep = RequestTooDeep(
            f"The request body nests arrays and objects more than {MAX_DEPTH} levels deep. No Accord request needs "
            "more than a few levels: send a flatter one."
        )
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # hundreds of levels: Python's own parser gives up before it can be measured
            raise too_deep from None
        if nesting_depth(data) > MAX_DEPTH:
            raise too_deep
        return data
