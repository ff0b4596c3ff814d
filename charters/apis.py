"""API for the asset registry: one class per operation."""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import request_user
from accounts.models import Organisation, User
from accounts.services import actor_for
from charters import access, services
from charters.models import Asset, AssetVersion


def _require_registrar(user: User) -> None:
    if not access.can_register_assets(user):
        raise PermissionDenied("Only governance officers register assets and their versions.")


class AssetVersionOutputSerializer(serializers.ModelSerializer[AssetVersion]):
    class Meta:
        model = AssetVersion
        fields = ["id", "label", "fingerprint", "size_bytes", "classification", "storage_uri", "created_at"]


class AssetOutputSerializer(serializers.ModelSerializer[Asset]):
    owner = serializers.CharField(source="owner.slug")
    versions = AssetVersionOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Asset
        fields = ["id", "name", "kind", "description", "owner", "created_at", "versions"]


class AssetFilter(filters.FilterSet):
    owner = filters.CharFilter(field_name="owner__slug")

    class Meta:
        model = Asset
        fields = ["kind", "owner"]


class AssetListApi(ListAPIView[Asset]):
    serializer_class = AssetOutputSerializer
    filterset_class = AssetFilter
    queryset = Asset.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.assets_visible_to(request_user(self.request)).prefetch_related("versions")


class AssetDetailApi(APIView):
    @extend_schema(operation_id="asset_detail", responses=AssetOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(AssetOutputSerializer(access.asset_get_for_user(request_user(request), pk)).data)


class AssetRegisterApi(APIView):
    @extend_schema_serializer(component_name="AssetRegisterInput")
    class InputSerializer(serializers.Serializer[None]):
        name = serializers.CharField(max_length=150)
        kind = serializers.ChoiceField(choices=Asset.Kind.choices)
        owner = serializers.SlugRelatedField(
            slug_field="slug", queryset=Organisation.objects.all(), help_text="Slug of the owning organisation."
        )
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="asset_register", request=InputSerializer, responses={201: AssetOutputSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        _require_registrar(user)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        asset = services.asset_register(**payload.validated_data, by=actor_for(user), created_by=user)
        return Response(AssetOutputSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetVersionRegisterApi(APIView):
    @extend_schema_serializer(component_name="AssetVersionRegisterInput")
    class InputSerializer(serializers.Serializer[None]):
        # DRF's metaclass moves declared fields off the class, so this does not shadow Field.label at run time.
        label = serializers.CharField(max_length=64)  # type: ignore[assignment]
        fingerprint = serializers.CharField(max_length=64, help_text="SHA-256 of the artefact, 64 hex characters.")
        size_bytes = serializers.IntegerField(min_value=0)
        classification = serializers.ChoiceField(choices=AssetVersion.Classification.choices)
        storage_uri = serializers.CharField(max_length=500)

    @extend_schema(
        operation_id="asset_version_register", request=InputSerializer, responses={201: AssetVersionOutputSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        asset = access.asset_get_for_user(user, pk)
        _require_registrar(user)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = services.asset_version_register(
            asset=asset, **payload.validated_data, by=actor_for(user), created_by=user
        )
        return Response(AssetVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)
