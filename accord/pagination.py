"""Paging of the API's lists: ?limit= and ?offset= (the trail: ?limit= and a cursor), read strictly.

DRF's own classes quietly take a limit they cannot read for the default, an offset they cannot read for 0, and any
limit at all, up to one PostgreSQL cannot take. Here a parameter that is not a whole number in range is a 400
naming it, and a page holds at most MAX_LIMIT items (docs/integration-guide.md, Errors).
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.pagination import LimitOffsetPagination as DrfLimitOffsetPagination
from rest_framework.request import Request

from accord.validation import is_whole_number

MAX_LIMIT = 500
# A number with more digits than this is beyond any count of rows (and than PostgreSQL's bigint).
_MOST_DIGITS = 18


def whole_number(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """The query parameter ``name`` as a whole number of at least ``minimum``; a larger one than ``maximum`` is
    taken as ``maximum``, and ``default`` stands in when it is absent or blank."""
    given = request.query_params.get(name, "")
    if given == "":
        return default
    if not is_whole_number(given) or (len(given) <= _MOST_DIGITS and int(given) < minimum):
        raise ValidationError({name: [f"Give {name} as a whole number of {minimum} or more."]})
    return maximum if len(given) > _MOST_DIGITS else min(int(given), maximum)


class LimitOffsetPagination(DrfLimitOffsetPagination):
    """?limit= (1 to MAX_LIMIT; REST_FRAMEWORK's PAGE_SIZE when left out) and ?offset= (0 or more)."""

    max_limit = MAX_LIMIT
    limit_query_description = f"How many results a page holds, at most {MAX_LIMIT}."

    def get_limit(self, request: Request) -> int:
        default = self.default_limit or MAX_LIMIT
        return whole_number(request, self.limit_query_param, default=default, minimum=1, maximum=MAX_LIMIT)

    def get_offset(self, request: Request) -> int:
        return whole_number(request, self.offset_query_param, default=0, minimum=0, maximum=10**_MOST_DIGITS)


class NewestFirstPagination(CursorPagination):
    """Newest first by id, a page at a time from a cursor: no count of millions of rows. ?limit= sets the size of
    a page as for other lists; a cursor Accord did not make is a 400 naming it."""

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    page_size_query_description = f"How many results a page holds: at most {MAX_LIMIT}."

    def get_page_size(self, request: Request) -> int:
        default = self.page_size or MAX_LIMIT
        return whole_number(request, "limit", default=default, minimum=1, maximum=MAX_LIMIT)

    def decode_cursor(self, request: Request) -> Cursor | None:
        invalid = ValidationError({self.cursor_query_param: ["Use the cursor of a 'next' or 'previous' link as is."]})
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        # The position is an id: the cursor is only base64, and anything in it would reach the query.
        position = None if cursor is None or cursor.position is None else str(cursor.position)
        if position is not None and (not is_whole_number(position) or len(position) > _MOST_DIGITS):
            raise invalid
        return cursor
