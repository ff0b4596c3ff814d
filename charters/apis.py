"""API for the asset registry: one class per operation."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField, TextSlugRelatedField
from accounts.access import request_user
from accounts.models import Organisation, User
from accounts.services import actor_for
from charters import access, documents, services
from charters.documents import CharterDocumentError
from charters.models import Asset, AssetVersion, Charter, CharterAcknowledgement, CharterVersion
from charters.services import charters as charter_services


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
        name = TextField(max_length=150)
        kind = serializers.ChoiceField(choices=Asset.Kind.choices)
        owner = TextSlugRelatedField(
            slug_field="slug", queryset=Organisation.objects.all(), help_text="Slug of the owning organisation."
        )
        description = TextField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="asset_register", request=InputSerializer, responses={201: AssetOutputSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        _require_registrar(user)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        asset = services.asset_register(**payload.validated_data, by=actor_for(user))
        return Response(AssetOutputSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetVersionRegisterApi(APIView):
    @extend_schema_serializer(component_name="AssetVersionRegisterInput")
    class InputSerializer(serializers.Serializer[None]):
        # DRF's metaclass moves declared fields off the class, so this does not shadow Field.label at run time.
        label = TextField(max_length=64)  # type: ignore[assignment]
        fingerprint = TextField(max_length=64, help_text="SHA-256 of the artefact, 64 hex characters.")
        size_bytes = serializers.IntegerField(min_value=0)
        classification = serializers.ChoiceField(choices=AssetVersion.Classification.choices)
        storage_uri = TextField(max_length=500)

    @extend_schema(
        operation_id="asset_version_register", request=InputSerializer, responses={201: AssetVersionOutputSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        asset = access.asset_get_for_user(user, pk)
        _require_registrar(user)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = services.asset_version_register(asset=asset, **payload.validated_data, by=actor_for(user))
        return Response(AssetVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


# --- Charters ---------------------------------------------------------------------------------------------


class CharterSchemaApi(APIView):
    """The JSON Schema charter files follow: public, so editors and CI can validate files before applying."""

    authentication_classes: list[type] = []

    @extend_schema(operation_id="charter_schema", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(documents.schema())


class CharterOutputSerializer(serializers.ModelSerializer[Charter]):
    partner = serializers.CharField(source="partner.slug")
    active_version = serializers.IntegerField(source="active_version.number", allow_null=True, default=None)
    active_agreement_hash = serializers.CharField(
        source="active_version.agreement_hash",
        allow_null=True,
        default=None,
        help_text="The hash of the active version's agreement: what the partner accepts.",
    )
    active_content_hash = serializers.SerializerMethodField(
        help_text="The hash of the whole active version, host-only terms included: for the host's staff (null "
        "for a partner)."
    )
    accepted = serializers.SerializerMethodField(help_text="Whether a partner admin accepted the active version.")

    class Meta:
        model = Charter
        fields = [
            "slug",
            "title",
            "partner",
            "status",
            "active_version",
            "active_agreement_hash",
            "active_content_hash",
            "accepted",
        ]

    def get_accepted(self, charter: Charter) -> bool:
        return charter.active_version_id in self.context["accepted_version_ids"]

    def get_active_content_hash(self, charter: Charter) -> str | None:
        if charter.active_version is None or not self.context["host_terms"]:
            return None
        return charter.active_version.content_hash


class CharterListApi(ListAPIView[Charter]):
    serializer_class = CharterOutputSerializer
    queryset = Charter.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.charters_visible_to(request_user(self.request)).order_by("slug")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["host_terms"] = access.sees_host_terms(request_user(self.request))
        context["accepted_version_ids"] = set(
            CharterAcknowledgement.objects.filter(version__charter__in=self.get_queryset()).values_list(
                "version_id", flat=True
            )
        )
        return context


class CharterVersionApi(APIView):
    @extend_schema_serializer(component_name="CharterVersion")
    class OutputSerializer(serializers.Serializer[CharterVersion]):
        charter = serializers.CharField(source="charter.slug")
        number = serializers.IntegerField()
        status = serializers.CharField()
        agreement_hash = serializers.CharField(help_text="The hash of the agreement: what the partner accepts.")
        content_hash = serializers.SerializerMethodField(
            help_text="The hash of the whole version, host-only terms included: for the host's staff (null for a "
            "partner)."
        )
        trainings = serializers.ListField(child=serializers.DictField(), source="document.trainings", default=list)
        document = serializers.SerializerMethodField(
            help_text="The version as a charter file says it; for a partner, the agreement without the host-only "
            "terms (misuse thresholds and windows, internal notification lists)."
        )

        def get_content_hash(self, version: CharterVersion) -> str | None:
            return version.content_hash if self.context["host_terms"] else None

        def get_document(self, version: CharterVersion) -> dict[str, Any]:
            return charter_services.version_as_document(version, agreement=not self.context["host_terms"])

    @extend_schema(operation_id="charter_version", responses=OutputSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        user = request_user(request)
        version = access.charter_version_get_for_user(user, slug, number)
        context = {"host_terms": access.sees_host_terms(user)}
        return Response(self.OutputSerializer(version, context=context).data)


class CharterAcknowledgeApi(APIView):
    @extend_schema_serializer(component_name="CharterAcknowledgeInput")
    class InputSerializer(serializers.Serializer[None]):
        version = serializers.IntegerField(min_value=1, help_text="The number of the version you accept.")
        trainings = serializers.ListField(
            child=TextField(), default=list, help_text="Names of the required trainings you completed."
        )

    @extend_schema_serializer(component_name="CharterAcknowledgement")
    class OutputSerializer(serializers.ModelSerializer[CharterAcknowledgement]):
        charter = serializers.CharField(source="version.charter.slug")
        version = serializers.IntegerField(source="version.number")
        partner_admin = serializers.CharField(source="partner_admin.username")

        class Meta:
            model = CharterAcknowledgement
            fields = ["charter", "version", "partner_admin", "accepted_at", "content_hash", "covers", "trainings"]

    @extend_schema(operation_id="charter_acknowledge", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        charter = access.charter_get_for_user(user, slug)
        if not access.can_acknowledge(user, charter):
            raise PermissionDenied(f"Only a partner admin of {charter.partner.name} accepts this charter.")
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = access.charter_version_get_for_user(user, slug, payload.validated_data["version"])
        acknowledgement = charter_services.charter_acknowledge(
            version=version,
            trainings_confirmed=payload.validated_data["trainings"],
            by=actor_for(user),
        )
        return Response(self.OutputSerializer(acknowledgement).data, status=status.HTTP_201_CREATED)


# --- Writing and reviewing charters: the officer's side, through the same services as the registry's pages -----


class CharterVersionStateSerializer(serializers.ModelSerializer[CharterVersion]):
    charter = serializers.CharField(source="charter.slug")
    author = serializers.CharField(source="author.username")
    approved_by = serializers.CharField(source="approved_by.username", default=None, allow_null=True)

    class Meta:
        model = CharterVersion
        fields = ["charter", "number", "status", "revision", "content_hash", "author", "approved_by"]


def _document_refused(error: CharterDocumentError) -> ValidationError:
    return ValidationError({"document": [str(problem) for problem in error.problems]})


class CharterWriteApi(APIView):
    """Write a charter document (YAML, as `manage.py charter apply` takes it) as the charter's draft."""

    @extend_schema_serializer(component_name="CharterWriteInput")
    class InputSerializer(serializers.Serializer[None]):
        document = TextField(max_length=200_000, help_text="The charter as YAML (see /api/v1/charters/schema).")
        revision = serializers.IntegerField(
            required=False, min_value=1, help_text="The draft's revision you edited: a newer one refuses the write."
        )

    @extend_schema(
        operation_id="charter_write",
        request=InputSerializer,
        responses={201: CharterVersionStateSerializer, 200: dict},
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            version = charter_services.charter_apply(
                text=payload.validated_data["document"],
                expected_revision=payload.validated_data.get("revision"),
                source="document",
                by=actor_for(request_user(request)),
            )
        except CharterDocumentError as error:
            raise _document_refused(error) from None
        if version is None:
            return Response({"changed": False, "detail": "The document equals the charter's current version."})
        return Response(CharterVersionStateSerializer(version).data, status=status.HTTP_201_CREATED)


class CharterVersionStepApi(APIView):
    """A step in a version's review: submit (its author), return with a reason, approve (a second officer)."""

    @extend_schema_serializer(component_name="CharterVersionStepInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(
        operation_id="charter_version_step",
        request=InputSerializer,
        responses=CharterVersionStateSerializer,
        parameters=[OpenApiParameter("step", enum=["submit", "return", "approve"], location=OpenApiParameter.PATH)],
    )
    def post(self, request: Request, slug: str, number: int, step: str) -> Response:
        if step not in ("submit", "return", "approve"):
            raise NotFound(f"There is no step {step!r}: a version is submitted, returned or approved.")
        user = request_user(request)
        version = access.charter_version_get_for_user(user, slug, number)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        by, reason = actor_for(user), payload.validated_data["reason"]
        if step == "submit":
            version = charter_services.charter_version_submit(version=version, by=by)
        elif step == "return":
            version = charter_services.charter_version_return(version=version, by=by, reason=reason)
        else:
            version = charter_services.charter_version_approve(version=version, by=by)
        return Response(CharterVersionStateSerializer(version).data)


class CharterStepApi(APIView):
    """Suspend or resume a charter, with a reason. Ending one takes two officers: POST /api/v1/proposals/create."""

    @extend_schema_serializer(component_name="CharterStepInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why: it goes into the trail and to the partner.")

    @extend_schema(
        operation_id="charter_step",
        request=InputSerializer,
        responses=CharterOutputSerializer,
        parameters=[OpenApiParameter("step", enum=["suspend", "resume"], location=OpenApiParameter.PATH)],
    )
    def post(self, request: Request, slug: str, step: str) -> Response:
        if step not in ("suspend", "resume"):
            raise NotFound(f"There is no step {step!r}: a charter is suspended or resumed here.")
        user = request_user(request)
        charter = access.charter_get_for_user(user, slug)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        step_service = charter_services.charter_suspend if step == "suspend" else charter_services.charter_resume
        charter = step_service(charter=charter, by=actor_for(user), reason=payload.validated_data["reason"])
        accepted = set(
            CharterAcknowledgement.objects.filter(version__charter=charter).values_list("version_id", flat=True)
        )
        context = {"accepted_version_ids": accepted, "host_terms": access.sees_host_terms(user)}
        return Response(CharterOutputSerializer(charter, context=context).data)
