"""The decision point and the grant API: one class per operation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import validate_slug
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
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
from accounts.roles import Role
from accounts.services import actor_for
from charters.services.policy_feed import Head
from governance import access
from governance.authentication import DecisionCredentials, DecisionTokenAuthentication
from governance.models import Grant, PartnerRole, PolicyBundle
from governance.services import bundles, decisions, grants, roles, rollback

MAX_BATCH = 1000
# A decision request nests two levels ({"context": {...}}); client facts in its context may add a few. One nested
# deeper is refused, in place within a batch (the parser refuses any body deeper than accord.parsers.MAX_DEPTH).
MAX_REQUEST_DEPTH = 16


def _principal(request: Request) -> User:
    user = request_user(request)
    if not user.is_service:
        raise PermissionDenied("Only partner principals ask for decisions: call with a principal's API token.")
    return user


@extend_schema_serializer(component_name="DecisionRequest")
class DecisionInputSerializer(serializers.Serializer[None]):
    action = TextField(max_length=64, help_text="infer, evaluate, fine_tune, download_weights, ...")
    asset = TextField(max_length=128, help_text="The asset version's SHA-256 fingerprint.")
    purpose = TextField(max_length=64, help_text="One of the charter's purposes.")
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.context.
    context = serializers.DictField(  # type: ignore[assignment]
        required=False, default=dict, help_text='May carry "session" and client facts.'
    )

    def to_internal_value(self, data: Any) -> Any:
        if nesting_depth(data) > MAX_REQUEST_DEPTH:
            message = f"A decision request nests at most {MAX_REQUEST_DEPTH} levels of arrays and objects."
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return super().to_internal_value(data)

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
    @extend_schema_serializer(component_name="SessionRequest")
    class InputSerializer(serializers.Serializer[None]):
        asset = TextField(max_length=128)
        action = TextField(max_length=64)
        purpose = TextField(max_length=64)

    @extend_schema_serializer(component_name="Session")
    class OutputSerializer(serializers.Serializer[Any]):
        session = serializers.CharField(help_text="Pass it as context.session in decisions until it expires.")
        expires_at = serializers.DateTimeField()

    @extend_schema(operation_id="session_open", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        principal = _principal(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        asked = decisions.DecisionRequest(**payload.validated_data)
        opened = decisions.session_open(principal, asked)
        if opened == "session_not_needed":
            raise ValidationError(
                {"asset": ["Your grant for this does not require a session: ask for decisions directly."]}
            )
        if isinstance(opened, str):
            raise PermissionDenied(f"No session: {decisions.MESSAGES[opened]} ({opened})")
        return Response(
            self.OutputSerializer({"session": opened.token, "expires_at": opened.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )


class GrantOutputSerializer(serializers.ModelSerializer[Grant]):
    principal = serializers.CharField(source="principal.username", default=None, allow_null=True)
    partner_role = serializers.CharField(source="partner_role.slug", default=None, allow_null=True)
    charter = serializers.CharField(source="charter.slug")
    charter_version = serializers.IntegerField(source="charter_version.number")
    asset = serializers.CharField(source="asset_version.fingerprint")

    class Meta:
        model = Grant
        fields = [
            "id",
            "principal",
            "partner_role",
            "charter",
            "charter_version",
            "asset",
            "actions",
            "purposes",
            "valid_from",
            "valid_until",
            "daily_quota",
            "monthly_quota",
            "rate_per_minute",
            "requires_session",
            "requires_attestation",
            "status",
            "status_reason",
            "justification",
            "created_at",
            "decided_at",
        ]


class GrantListApi(ListAPIView[Grant]):
    serializer_class = GrantOutputSerializer
    queryset = Grant.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.grants_visible_to(request_user(self.request))


class GrantRequestApi(APIView):
    @extend_schema_serializer(component_name="GrantRequest")
    class InputSerializer(serializers.Serializer[None]):
        principal = TextField(required=False, help_text="Username of one of your principals.")
        partner_role = TextField(required=False, help_text="Or the slug of one of your partner roles.")
        asset = TextField(max_length=64, help_text="The asset version's fingerprint.")
        actions = serializers.ListField(child=TextField(max_length=64), allow_empty=False)
        purposes = serializers.ListField(child=TextField(max_length=64), allow_empty=False)
        valid_from = serializers.DateTimeField()
        valid_until = serializers.DateTimeField()
        daily_quota = serializers.IntegerField(min_value=1)
        monthly_quota = serializers.IntegerField(min_value=1)
        rate_per_minute = serializers.IntegerField(min_value=1)
        requires_session = serializers.BooleanField(default=False)
        requires_attestation = serializers.BooleanField(default=False)
        justification = TextField()

    @extend_schema(operation_id="grant_request", request=InputSerializer, responses={201: GrantOutputSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        if not user.has_role(Role.PARTNER_ADMIN):
            raise PermissionDenied("Partner admins request grants for their principals.")
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(payload.validated_data)
        partner = user.organisation
        asset = access.asset_version_known_to(partner.pk, data.pop("asset"))
        if asset is None:
            raise ValidationError({"asset": ["No asset version has this fingerprint."]})
        principal_name, role_slug = data.pop("principal", None), data.pop("partner_role", None)
        principal = User.objects.filter(username=principal_name, organisation=partner, is_service=True).first()
        role = PartnerRole.objects.filter(slug=role_slug, partner_id=partner.pk).first()
        if principal_name and principal is None:
            raise ValidationError({"principal": [f"{principal_name!r} is not one of your principals."]})
        if role_slug and role is None:
            raise ValidationError({"partner_role": [f"{role_slug!r} is not one of your partner roles."]})
        grant = grants.grant_request(
            partner=access.partner_of(user),
            asset_version=asset,
            principal=principal,
            partner_role=role,
            requested_by=user,
            by=actor_for(user),
            **data,
        )
        return Response(GrantOutputSerializer(grant).data, status=status.HTTP_201_CREATED)


class PartnerRoleOutputSerializer(serializers.ModelSerializer[PartnerRole]):
    partner = serializers.CharField(source="partner.slug")
    members = serializers.SerializerMethodField(help_text="Usernames of the principals in the role.")

    class Meta:
        model = PartnerRole
        fields = ["slug", "title", "partner", "members"]

    def get_members(self, role: PartnerRole) -> list[str]:
        return sorted(member.username for member in role.members.all())


def _partner_admin(request: Request) -> User:
    user = request_user(request)
    if not user.has_role(Role.PARTNER_ADMIN):
        raise PermissionDenied("Partner admins manage their partner's roles.")
    return user


class PartnerRoleListApi(ListAPIView[PartnerRole]):
    serializer_class = PartnerRoleOutputSerializer
    queryset = PartnerRole.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.roles_visible_to(request_user(self.request))


class PartnerRoleCreateApi(APIView):
    @extend_schema_serializer(component_name="PartnerRoleCreate")
    class InputSerializer(serializers.Serializer[None]):
        slug = TextField(max_length=64, validators=[validate_slug])
        title = TextField(max_length=150, required=False, default="")

    @extend_schema(
        operation_id="partner_role_create", request=InputSerializer, responses={201: PartnerRoleOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        user = _partner_admin(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        role = roles.partner_role_create(partner=access.partner_of(user), by=actor_for(user), **payload.validated_data)
        return Response(PartnerRoleOutputSerializer(role).data, status=status.HTTP_201_CREATED)


class PartnerRoleMemberApi(APIView):
    @extend_schema_serializer(component_name="PartnerRoleMember")
    class InputSerializer(serializers.Serializer[None]):
        principal = TextField(help_text="Username of one of your principals.")
        remove = serializers.BooleanField(default=False, help_text="true removes the principal from the role.")

    @extend_schema(operation_id="partner_role_member", request=InputSerializer, responses=PartnerRoleOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        user = _partner_admin(request)
        role = access.role_get_for_admin(user, slug)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        name = payload.validated_data["principal"]
        principal = User.objects.filter(username=name, organisation_id=user.organisation_id, is_service=True).first()
        if principal is None:
            raise ValidationError({"principal": [f"{name!r} is not one of your principals."]})
        change = roles.partner_role_remove_member if payload.validated_data["remove"] else roles.partner_role_add_member
        role = change(role=role, principal=principal, by=actor_for(user))
        return Response(PartnerRoleOutputSerializer(access.roles_visible_to(user).get(pk=role.pk)).data)


# --- Policy bundles --------------------------------------------------------------------------------------


def _bundle_reader(request: Request) -> User:
    user = request_user(request)
    if not access.can_see_bundles(user):
        raise PermissionDenied("Policy bundles are for the host's officers and auditors.")
    return user


class BundleSerializer(serializers.ModelSerializer[PolicyBundle]):
    # DRF's metaclass moves declared fields off the class, so this does not shadow Field.parent.
    parent = serializers.CharField(source="parent.hash", default=None)  # type: ignore[assignment]
    added = serializers.SerializerMethodField(help_text="How many lines this bundle added to its parent.")
    removed = serializers.SerializerMethodField(help_text="How many lines it removed.")
    checkpoint = serializers.SerializerMethodField()

    class Meta:
        model = PolicyBundle
        fields = [
            "seq",
            "hash",
            "parent",
            "change_kind",
            "change_object",
            "changed_by",
            "changed_at",
            "recorded_at",
            "added",
            "removed",
            "line_count",
            "checkpoint",
        ]

    def get_added(self, bundle: PolicyBundle) -> int:
        return len(bundle.added)

    def get_removed(self, bundle: PolicyBundle) -> int:
        return len(bundle.removed)

    def get_checkpoint(self, bundle: PolicyBundle) -> bool:
        return bundle.checkpoint is not None


class BundleListApi(ListAPIView[PolicyBundle]):
    serializer_class = BundleSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model without a request
            return PolicyBundle.objects.none()
        _bundle_reader(self.request)
        return PolicyBundle.objects.select_related("parent").defer("checkpoint")


class BundleDetailApi(APIView):
    @extend_schema(operation_id="bundle_show", responses=BundleSerializer)
    def get(self, request: Request, ref: str) -> Response:
        _bundle_reader(request)
        bundle = bundles.bundle_get(ref)
        lines = bundles.lines_by_charter(bundles.bundle_lines(bundle))
        return Response({**BundleSerializer(bundle).data, "lines": lines})


class BundleDiffApi(APIView):
    @extend_schema(
        operation_id="bundle_diff",
        parameters=[
            OpenApiParameter(
                "from", str, required=True, description="The older bundle: hash (8+ characters) or change number."
            ),
            OpenApiParameter("to", str, required=True, description="The newer bundle, the same way."),
        ],
        responses=dict,
    )
    def get(self, request: Request) -> Response:
        _bundle_reader(request)
        refs = {side: request.query_params.get(side, "").strip() for side in ("from", "to")}
        missing = [side for side, ref in refs.items() if not ref]
        if missing:
            raise ValidationError(
                {side: ["Name a bundle: its hash (8 characters or more) or change number."] for side in missing}
            )
        old, new = bundles.bundle_get(refs["from"]), bundles.bundle_get(refs["to"])
        groups = bundles.bundle_diff(old, new)
        return Response(
            {
                "from": BundleSerializer(old).data,
                "to": BundleSerializer(new).data,
                "charters": [
                    {"charter": g.charter, "partner": g.partner, "added": g.added, "removed": g.removed} for g in groups
                ],
            }
        )


class BundleRollbackApi(APIView):
    @extend_schema_serializer(component_name="BundleRollback")
    class InputSerializer(serializers.Serializer[None]):
        dry_run = serializers.BooleanField(default=False, help_text="Only say what the rollback would do.")
        reason = TextField(required=False, allow_blank=True, default="", max_length=2000)
        plan = TextField(
            required=False,
            allow_blank=True,
            default="",
            max_length=64,
            help_text="The plan digest a dry run returned: the rollback is refused when the plan has changed since.",
        )

    @extend_schema(operation_id="bundle_rollback", request=InputSerializer, responses=dict)
    def post(self, request: Request, ref: str) -> Response:
        user = _bundle_reader(request)
        if not user.is_officer:
            raise PermissionDenied("Only governance officers roll the policy back.")
        bundle = bundles.bundle_get(ref)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data["dry_run"]:
            return Response(rollback.rollback_plan(bundle).as_json())
        result = rollback.bundle_rollback(
            bundle=bundle, officer=user, by=actor_for(user), reason=data["reason"], expected_plan=data["plan"]
        )
        return Response(result.as_json())
