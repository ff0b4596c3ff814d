"""The decision point's API: one decision, a batch, and decision sessions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accord import dependencies
from accord.fields import TextField
from accord.parsers import nesting_depth
from accord.postgres import guard
from accounts.access import request_user
from accounts.models import User
from charters.services.policy_feed import Head
from governance.attestation import nonces
from governance.decisions import services as decisions
from governance.decisions.authentication import DecisionCredentials, DecisionTokenAuthentication

MAX_BATCH = 1000


# A decision request nests two levels ({"context": {...}}); client facts in its context may add a few. One nested
# deeper is refused, in place within a batch (the parser refuses any body deeper than accord.parsers.MAX_DEPTH).
MAX_REQUEST_DEPTH = 16


# A decision-path request refused when it nests deeper than MAX_REQUEST_DEPTH, saying what ``nested`` is. (A comment,
# not a docstring: drf-spectacular would print a docstring as the description of every request that uses it.)
class DepthLimited(serializers.Serializer[None]):
    nested = "A request"

    def to_internal_value(self, data: Any) -> Any:
        if nesting_depth(data) > MAX_REQUEST_DEPTH:
            message = f"{self.nested} nests at most {MAX_REQUEST_DEPTH} levels of arrays and objects."
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return super().to_internal_value(data)


def _principal(request: Request) -> User:
    user = request_user(request)
    if not user.is_service:
        raise PermissionDenied("Only partner principals ask for decisions: call with a principal's API token.")
    return user


@extend_schema_serializer(component_name="DecisionRequest")
class DecisionInputSerializer(DepthLimited):
    nested = "A decision request"
    action = TextField(max_length=64, help_text="infer, evaluate, fine_tune, download_weights, ...")
    asset = TextField(max_length=128, help_text="The asset version's SHA-256 fingerprint.")
    purpose = TextField(max_length=64, help_text="One of the charter's purposes.")
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.context.
    context = serializers.DictField(  # type: ignore[assignment]
        required=False,
        default=dict,
        help_text='May carry "session", "attestation" ({"verifier", "evidence", "gpu"}) and client facts.',
    )

    def to_request(self) -> decisions.DecisionRequest:
        return self.request_from(self.validated_data)

    @staticmethod
    def request_from(data: dict[str, Any]) -> decisions.DecisionRequest:
        return decisions.DecisionRequest(
            action=data["action"], asset=data["asset"], purpose=data["purpose"], context=dict(data["context"])
        )


@extend_schema_serializer(component_name="Decision")
class DecisionOutputSerializer(serializers.Serializer[None]):
    decision_id = serializers.CharField()
    allow = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    obligations = serializers.ListField(child=serializers.DictField())
    bundle = serializers.CharField(help_text="Content hash of the policy bundle the decision was made under.")


def _head(request: Request) -> Head | None:
    return request.auth.head if isinstance(request.auth, DecisionCredentials) else None


class DecisionPathApi(APIView):
    """The decision point's endpoints: a principal's token, and a short wait on the database (a gateway waits on
    every answer; one that does not come is a deny, not a hang)."""

    authentication_classes = [DecisionTokenAuthentication]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with guard.deadline(settings.ACCORD_DB_DECISION_TIMEOUT):
            return super().dispatch(request, *args, **kwargs)


class FailClosedDecisionApi(DecisionPathApi):
    """A failing dependency anywhere on the way, the token lookup included, is a deny with
    ``dependency_unavailable``: 200, never a 5xx and never an allow. Input that is wrong is still a 400."""

    fail_closed = True  # the OpenAPI document lists no 503 for these (accord/schema.py)

    def handle_exception(self, exc: Exception) -> Response:
        if not dependencies.unavailable(exc):
            return super().handle_exception(exc)
        try:
            denied = self.denied_while_unavailable(self.request)
        except ValidationError as invalid:
            return super().handle_exception(invalid)
        return Response(denied)

    def denied_while_unavailable(self, request: Request) -> dict[str, Any]:
        raise NotImplementedError


class DecisionApi(FailClosedDecisionApi):
    @extend_schema(operation_id="decide", request=DecisionInputSerializer, responses=DecisionOutputSerializer)
    def post(self, request: Request) -> Response:
        principal = _principal(request)
        payload = DecisionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(decisions.decide(principal, payload.to_request(), head=_head(request)).as_json())

    def denied_while_unavailable(self, request: Request) -> dict[str, Any]:
        DecisionInputSerializer(data=request.data).is_valid(raise_exception=True)
        return decisions.deny("dependency_unavailable").as_json()


class DecisionBatchApi(FailClosedDecisionApi):
    @extend_schema_serializer(component_name="DecisionBatchRequest")
    class InputSerializer(serializers.Serializer[None]):
        # Any JSON value is an item, null included: one that is not a decision request is answered in place.
        requests = serializers.ListField(
            child=serializers.JSONField(allow_null=True), allow_empty=False, max_length=MAX_BATCH
        )

    @extend_schema_serializer(component_name="DecisionBatch")
    class OutputSerializer(serializers.Serializer[None]):
        results = DecisionOutputSerializer(many=True)

    @extend_schema(operation_id="decide_batch", request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        principal = _principal(request)
        results = decisions.decide_batch(principal, self.items(request), head=_head(request))
        return Response({"results": [decision.as_json() for decision in results]})

    def denied_while_unavailable(self, request: Request) -> dict[str, Any]:
        results = [
            decisions.deny("invalid_request", message=item)
            if isinstance(item, str)
            else decisions.deny("dependency_unavailable")
            for item in self.items(request)
        ]
        return {"results": [decision.as_json() for decision in results]}

    def items(self, request: Request) -> list[decisions.DecisionRequest | str]:
        """Each item as a request, or as the sentence saying why it is not one (answered in place)."""
        envelope = self.InputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        items: list[decisions.DecisionRequest | str] = []
        # One serializer checks every item: building one per item would copy its fields a thousand times.
        checker = DecisionInputSerializer()
        for index, raw in enumerate(envelope.validated_data["requests"]):
            try:
                if not isinstance(raw, dict):
                    raise ValidationError({"request": ["must be a JSON object"]})
                items.append(DecisionInputSerializer.request_from(checker.run_validation(raw)))
            except ValidationError as error:
                problems = error.detail if isinstance(error.detail, dict) else {"request": error.detail}
                detail = " ".join(f"{_named(field)}: {' '.join(map(str, msgs))}" for field, msgs in problems.items())
                items.append(f"Item {index} is not a valid decision request. {detail}")
        return items


def _named(field: str) -> str:
    """What an item's problem is about: one of its fields, or the request as a whole."""
    return "request" if field == api_settings.NON_FIELD_ERRORS_KEY else field


class SessionOpenApi(DecisionPathApi):
    """A session for a grant that requires one. A grant whose use needs an attested enclave opens an attested
    session on the evidence in ``context.attestation``: decisions that name it need no fresh evidence until it
    ends (the charter's lifetime, or at once when its measurement leaves the allow-list)."""

    @extend_schema_serializer(component_name="SessionRequest")
    class InputSerializer(DepthLimited):
        nested = "A session request"
        asset = TextField(max_length=128)
        action = TextField(max_length=64)
        purpose = TextField(max_length=64)
        context = serializers.DictField(  # type: ignore[assignment]
            required=False, default=dict, help_text='May carry "attestation": {"verifier", "evidence", "gpu"}.'
        )

    @extend_schema_serializer(component_name="Session")
    class OutputSerializer(serializers.Serializer[Any]):
        session = serializers.CharField(help_text="Pass it as context.session in decisions until it expires.")
        expires_at = serializers.DateTimeField()
        attested = serializers.BooleanField(help_text="Opened on verified attestation evidence.")

    @extend_schema(operation_id="session_open", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response | JsonResponse:
        principal = _principal(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        asked = DecisionInputSerializer.request_from(payload.validated_data)
        try:
            opened = decisions.session_open(principal, asked)
        except nonces.NonceStoreUnavailableError as error:
            return dependencies.api_unavailable(error)  # the nonce could not be spent: no session
        if isinstance(opened, decisions.SessionRefused):
            if opened.code == "session_not_needed":
                raise ValidationError({"asset": [f"{opened.message} Ask for decisions directly."]})
            # The deny's own code, as a decision and a key release give it: a program can tell why without parsing.
            raise PermissionDenied(f"No session: {opened.message}", code=opened.code)
        return Response(
            self.OutputSerializer(
                {"session": opened.token, "expires_at": opened.expires_at, "attested": opened.attested}
            ).data,
            status=status.HTTP_201_CREATED,
        )
