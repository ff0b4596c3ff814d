"""The incident API for the host's staff: declare one (or a drill), tick a playbook step, close it."""

from __future__ import annotations

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
from charters.access import charter_get_for_user
from governance import access
from governance.incidents import services as incidents
from governance.models import Incident, IncidentStep


class IncidentStepSerializer(serializers.ModelSerializer[IncidentStep]):
    class Meta:
        model = IncidentStep
        fields = ["position", "title", "owner_role", "automatic", "due_at", "status", "done_at", "done_by", "note"]


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    charter = serializers.CharField(source="charter.slug")
    partner = serializers.CharField(source="partner.slug")

    class Meta:
        model = Incident
        fields = [
            "id",
            "charter",
            "partner",
            "title",
            "severity",
            "summary",
            "drill",
            "status",
            "declared_by",
            "declared_at",
            "remediation_due_at",
            "resolution",
            "closed_at",
        ]


class IncidentDetailSerializer(IncidentSerializer):
    steps = IncidentStepSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "steps"]


class IncidentListApi(ListAPIView[Incident]):
    serializer_class = IncidentSerializer
    queryset = Incident.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.incidents_visible_to(request_user(self.request)).order_by("-declared_at", "-id")


class IncidentDeclareApi(APIView):
    @extend_schema_serializer(component_name="IncidentDeclareInput")
    class InputSerializer(serializers.Serializer[None]):
        charter = TextField(max_length=64, help_text="The charter's slug: its playbook runs.")
        title = TextField(max_length=200)
        severity = TextField(max_length=16, help_text="One of the severities the charter's playbook names.")
        summary = TextField(max_length=5000)
        drill = serializers.BooleanField(default=False, help_text="A tabletop exercise: nothing real is suspended.")

    @extend_schema(operation_id="incident_declare", request=InputSerializer, responses={201: IncidentDetailSerializer})
    def post(self, request: Request) -> Response:
        user = user_who_may(request, Operation.INCIDENT_DECLARE)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        charter = charter_get_for_user(user, data.pop("charter"))
        incident = incidents.incident_declare(charter=charter, by=actor_for(user), **data)
        return Response(IncidentDetailSerializer(incident).data, status=status.HTTP_201_CREATED)


class IncidentDetailApi(APIView):
    @extend_schema(operation_id="incident_detail", responses=IncidentDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(IncidentDetailSerializer(access.incident_get_for_user(request_user(request), pk)).data)


class IncidentStepDoneApi(APIView):
    @extend_schema_serializer(component_name="IncidentStepDoneInput")
    class InputSerializer(serializers.Serializer[None]):
        note = TextField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(operation_id="incident_step_done", request=InputSerializer, responses=IncidentDetailSerializer)
    def post(self, request: Request, pk: int, position: int) -> Response:
        user = user_who_may(request, Operation.INCIDENT_RUN)
        incident = access.incident_get_for_user(user, pk)
        step = get_object_or_404(IncidentStep, incident=incident, position=position)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        incidents.incident_step_complete(step=step, by=actor_for(user), note=payload.validated_data["note"])
        return Response(IncidentDetailSerializer(access.incident_get_for_user(user, pk)).data)


class IncidentCloseApi(APIView):
    @extend_schema_serializer(component_name="IncidentCloseInput")
    class InputSerializer(serializers.Serializer[None]):
        resolution = TextField(max_length=5000, help_text="What happened, what was done, what changes now.")
        release_holds = serializers.BooleanField(default=False)

    @extend_schema(operation_id="incident_close", request=InputSerializer, responses=IncidentDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = user_who_may(request, Operation.INCIDENT_RUN)
        incident = access.incident_get_for_user(user, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        incident = incidents.incident_close(incident=incident, by=actor_for(user), **payload.validated_data)
        return Response(IncidentDetailSerializer(incident).data)
