"""The grant and partner-role API: one class per operation."""

from __future__ import annotations

from typing import Any

from django.core.validators import validate_slug
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts.access import request_user, user_who_may
from accounts.models import User
from accounts.operations import Operation
from accounts.services import actor_for
from governance import access
from governance.grants import roles
from governance.grants import services as grants
from governance.grants.transitions import TRANSITIONS, grant_step
from governance.models import Grant, PartnerRole


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
            "attestation_policy",
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


class GrantTransitionApi(APIView):
    """An officer's step on a grant: approve, refuse, suspend, resume or revoke (all but approving need a reason)."""

    @extend_schema_serializer(component_name="GrantStepInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(
        operation_id="grant_transition",
        request=InputSerializer,
        responses=GrantOutputSerializer,
        parameters=[OpenApiParameter("step", enum=list(TRANSITIONS), location=OpenApiParameter.PATH)],
    )
    def post(self, request: Request, pk: int, step: str) -> Response:
        if step not in TRANSITIONS:
            raise NotFound(f"There is no step {step!r}: a grant is approved, refused, suspended, resumed or revoked.")
        user = request_user(request)
        grant = access.grant_get_for_user(user, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        done = grant_step(grant=grant, step=step, by=actor_for(user), reason=payload.validated_data["reason"])
        return Response(GrantOutputSerializer(done).data)


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
        attestation_policy = serializers.DictField(
            required=False,
            allow_null=True,
            help_text="A claims policy (allOf/anyOf) the enclave's evidence must meet as well as the charter's.",
        )
        justification = TextField()

    @extend_schema(operation_id="grant_request", request=InputSerializer, responses={201: GrantOutputSerializer})
    def post(self, request: Request) -> Response:
        user = user_who_may(request, Operation.GRANT_REQUEST)
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
    return user_who_may(request, Operation.PARTNER_ROLE_MANAGE)


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
