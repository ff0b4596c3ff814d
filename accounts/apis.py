"""API for people and tokens: one class per operation, each validating, calling a service and serializing."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts import access, services
from accounts.access import request_user
from accounts.models import ApiToken, Partner, User


class PartnerOutputSerializer(serializers.ModelSerializer[Partner]):
    class Meta:
        model = Partner
        fields = ["slug", "name", "created_at"]


class MeApi(APIView):
    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer[User]):
        username = serializers.CharField()
        organisation = serializers.CharField(source="organisation.slug")
        organisation_kind = serializers.CharField(source="organisation.kind")
        roles = serializers.ListField(child=serializers.CharField(), source="sorted_roles")
        is_service = serializers.BooleanField()

    @extend_schema(operation_id="me", responses=OutputSerializer, summary="Who the token or session belongs to")
    def get(self, request: Request) -> Response:
        user = request_user(request)
        user.sorted_roles = sorted(user.roles)  # type: ignore[attr-defined]
        return Response(self.OutputSerializer(user).data)


class PartnerListApi(ListAPIView[Partner]):
    serializer_class = PartnerOutputSerializer
    queryset = Partner.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.partners_visible_to(request_user(self.request))


class ApiTokenOutputSerializer(serializers.ModelSerializer[ApiToken]):
    owner = serializers.CharField(source="user.username")
    status = serializers.CharField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "owner", "prefix", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ApiTokenListApi(ListAPIView[ApiToken]):
    serializer_class = ApiTokenOutputSerializer
    queryset = ApiToken.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.tokens_visible_to(request_user(self.request))


class ApiTokenIssueApi(APIView):
    @extend_schema_serializer(component_name="ApiTokenIssueInput")
    class InputSerializer(serializers.Serializer[None]):
        name = TextField(max_length=100)
        owner = TextField(required=False, help_text="Username of a principal you manage; yourself when left out.")
        expires_in_days = serializers.IntegerField(
            required=False, min_value=1, max_value=settings.ACCORD_TOKEN_MAX_DAYS
        )

    @extend_schema_serializer(component_name="ApiTokenIssued")
    class OutputSerializer(ApiTokenOutputSerializer):
        token = serializers.CharField(help_text="The token itself. Shown this once; store it now.")

        class Meta(ApiTokenOutputSerializer.Meta):
            fields = [*ApiTokenOutputSerializer.Meta.fields, "token"]

    @extend_schema(operation_id="api_token_issue", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        owner_name = payload.validated_data.get("owner") or user.username
        owner = access.token_owner_get_for_user(user, owner_name)
        token, raw = services.api_token_issue(
            user=owner,
            name=payload.validated_data["name"],
            expires_in_days=payload.validated_data.get("expires_in_days"),
            by=services.actor_for(user),
        )
        token.token = raw  # type: ignore[attr-defined]
        return Response(self.OutputSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenRevokeApi(APIView):
    @extend_schema(operation_id="api_token_revoke", request=None, responses=ApiTokenOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        token = access.token_get_for_user(user, pk)
        token = services.api_token_revoke(token=token, by=services.actor_for(user))
        return Response(ApiTokenOutputSerializer(token).data)
