"""The exit API: what a partner admin's narrowed token still reaches once its collaboration ends."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts.access import request_user, user_who_may
from accounts.operations import Operation
from accounts.services import actor_for
from governance import access
from governance.exits import selectors as exit_selectors
from governance.exits import services as exits
from governance.models import DataKey, DestructionCertificate, Exit, ExitItem
from governance.vault.apis import DataKeyOutputSerializer


class ExitItemSerializer(serializers.ModelSerializer[ExitItem]):
    asset = serializers.CharField(source="asset_version.fingerprint", default=None)

    class Meta:
        model = ExitItem
        fields = ["subject", "asset", "disposition", "retention_days", "status", "note", "done_at"]


class ExitSerializer(serializers.ModelSerializer[Exit]):
    charter = serializers.CharField(source="charter.slug")
    partner = serializers.CharField(source="partner.slug")
    items = ExitItemSerializer(many=True, read_only=True)
    waiting_for = serializers.SerializerMethodField(help_text="What the exit still waits for before it closes.")
    attest_destruction = serializers.SerializerMethodField(
        help_text="The fingerprints the partner admin attests as destroyed (empty when the plan asks for nothing)."
    )
    attested_at = serializers.DateTimeField(source="attestation.attested_at", default=None)
    certificates = serializers.SerializerMethodField(help_text="Numbers of the certificates of destruction so far.")

    class Meta:
        model = Exit
        fields = [
            "id",
            "charter",
            "partner",
            "status",
            "reason",
            "started_at",
            "revocations_done_at",
            "closed_at",
            "items",
            "waiting_for",
            "attest_destruction",
            "attested_at",
            "certificates",
        ]

    def get_waiting_for(self, exit_: Exit) -> list[str]:
        return exit_selectors.exit_blockers(exit_) if exit_.status != Exit.Status.CLOSED else []

    def get_attest_destruction(self, exit_: Exit) -> list[str]:
        return exit_selectors.destroyed_fingerprints(exit_) if exit_selectors.attestation_wanted(exit_) else []

    def get_certificates(self, exit_: Exit) -> list[str]:
        return list(exit_selectors.exit_certificates(exit_).order_by("number").values_list("number", flat=True))


class ExitListApi(ListAPIView[Exit]):
    serializer_class = ExitSerializer
    queryset = Exit.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.exits_visible_to(request_user(self.request)).prefetch_related("items__asset_version")


class ExitDetailApi(APIView):
    @extend_schema(operation_id="exit_detail", responses=ExitSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExitSerializer(access.exit_get_for_user(request_user(request), pk)).data)


class ExitReportApi(APIView):
    @extend_schema(
        operation_id="exit_report",
        responses=dict,
        description="The exit report: final once the exit is closed, otherwise a draft of what is done so far.",
    )
    def get(self, request: Request, pk: int) -> Response:
        exit_ = access.exit_get_for_user(request_user(request), pk)
        report = exit_.report if exit_.status == Exit.Status.CLOSED else exit_selectors.exit_report(exit_)
        return Response({"final": exit_.status == Exit.Status.CLOSED, "report": report})


class ExitAttestationApi(APIView):
    @extend_schema_serializer(component_name="ExitAttestation")
    class InputSerializer(serializers.Serializer[None]):
        statement = TextField(
            max_length=5000, help_text="What your organisation destroyed, and how it checked that it is gone."
        )
        method = TextField(max_length=200, help_text="e.g. 'cryptographic erase'.")
        destroyed = serializers.ListField(
            child=TextField(max_length=64),
            allow_empty=False,
            help_text="The fingerprints of the asset versions destroyed: every one in the exit's attest_destruction.",
        )

    @extend_schema(operation_id="exit_attest", request=InputSerializer, responses={201: ExitSerializer})
    def post(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        exit_ = access.exit_get_for_user(user, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(payload.validated_data)
        exits.exit_attest(exit_=exit_, by=actor_for(user), **data)
        exit_.refresh_from_db()
        return Response(ExitSerializer(exit_).data, status=status.HTTP_201_CREATED)


class CertificateApi(APIView):
    @extend_schema(
        operation_id="destruction_certificate",
        responses=dict,
        description="A certificate of destruction: its document and the Ed25519 signature over the document's "
        "canonical JSON, by the trail key named (see /api/v1/audit/public-key).",
    )
    def get(self, request: Request, number: str) -> Response:
        certificate: DestructionCertificate = access.certificate_get_for_user(request_user(request), number)
        return Response(
            {
                "document": certificate.document,
                "signature": certificate.signature,
                "signing_key_id": certificate.signing_key_id,
            }
        )


class KeyCancelApi(APIView):
    """Keep a key whose destruction is scheduled, within its grace period (officers); an exit's line that scheduled
    it shows who kept it and why."""

    @extend_schema_serializer(component_name="KeyCancelInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why it is kept: the trail keeps it.")

    @extend_schema(operation_id="key_cancel", request=InputSerializer, responses=DataKeyOutputSerializer)
    def post(self, request: Request, key_id: str) -> Response:
        officer = user_who_may(request, Operation.KEY_DESTROY)
        data_key = get_object_or_404(DataKey, key_id=key_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        exits.exit_destruction_cancel(data_key=data_key, by=actor_for(officer), reason=payload.validated_data["reason"])
        data_key.refresh_from_db()
        return Response(DataKeyOutputSerializer(data_key).data)


class ExitItemMigratedApi(APIView):
    """Confirm the hand-over of an exit line the plan migrates (officers), with a note of what was handed over.
    Starting an exit is ending its charter: a proposal of kind ``charter_end``."""

    @extend_schema_serializer(component_name="ExitItemMigratedInput")
    class InputSerializer(serializers.Serializer[None]):
        note = TextField(max_length=2000, help_text="What was handed over, to whom: the report shows it.")

    @extend_schema(operation_id="exit_item_migrated", request=InputSerializer, responses=ExitSerializer)
    def post(self, request: Request, pk: int, item: int) -> Response:
        officer = user_who_may(request, Operation.EXIT_CONFIRM)
        exit_ = access.exit_get_for_user(officer, pk)
        line = get_object_or_404(ExitItem, exit=exit_, pk=item)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        exits.exit_migration_confirm(item=line, by=actor_for(officer), note=payload.validated_data["note"])
        return Response(ExitSerializer(access.exit_get_for_user(officer, pk)).data)
