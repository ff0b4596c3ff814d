"""The OpenAPI document says what every operation may answer besides success: each error status that applies,
in the one error shape (accord/api_errors.py). Added here once, from what the view is, rather than on every view.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(component_name="ErrorDetail")
class ErrorDetailSerializer(serializers.Serializer[None]):
    code = serializers.CharField(help_text="Stable, for programs: invalid, not_authenticated, not_found, ...")
    message = serializers.CharField(help_text="A sentence a person can act on.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The input fields at fault, each with its messages; empty when the input as a whole was.",
    )


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer[None]):
    error = ErrorDetailSerializer()


BAD_INPUT = (
    "The input is not valid (the message and `fields` say what to change); also malformed JSON, a body nested too "
    "deep or larger than the API reads (`request_too_large`), a NUL character in the address."
)
ERRORS = {
    "400": BAD_INPUT,
    "401": "No API token, or one that is unknown, expired or revoked.",
    "403": "The token's owner may not do this.",
    "404": "Nothing there, or nothing the caller may see (the two are not told apart).",
    "415": "The body is not JSON: the API reads JSON only.",
    "503": "A service Accord needs did not answer; retry after the seconds in Retry-After.",
}


class AccordAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error responses that apply to each operation."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_statuses():
            if code not in responses:
                responses[code] = {**self._get_response_for_code(ErrorSerializer, code), "description": ERRORS[code]}
        return responses

    def _error_statuses(self) -> list[str]:
        has_body = self.method in ("POST", "PUT", "PATCH")
        parameters = self._get_parameters()
        has_query = any(parameter.get("in") == "query" for parameter in parameters)
        # A required query parameter names something (a bundle, say) that may not be there.
        names_object = any(parameter.get("in") == "query" and parameter.get("required") for parameter in parameters)
        has_path = "{" in self.path
        # Public addresses take no credentials at all (the matrix says ANYONE for each: tests/accounts/test_matrix.py).
        public = not self.view.authentication_classes
        codes = []
        if has_body or has_query or has_path:
            codes.append("400")
        if not public:
            codes += ["401", "403"]
        # The decision point answers a failing dependency, or an unknown asset, with a deny
        # (governance/decisions/apis.py).
        fail_closed = getattr(self.view, "fail_closed", False)
        if (has_path or has_body or names_object) and not fail_closed:
            codes.append("404")
        if has_body:
            codes.append("415")
        if not fail_closed:
            codes.append("503")
        return codes


def empty_query_values(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: an optional query parameter sent empty (`?kind=`) is read as left out,
    by DRF's fields, django-filter and the pagination alike, and the document says so (allowEmptyValue)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
