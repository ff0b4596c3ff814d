"""The artefact store's API: scheduling a key's destruction (cancelling is the exits' API: it may settle a line)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts.access import user_who_may
from accounts.operations import Operation
from accounts.services import actor_for
from accounts.stepup import step_up_check_api
from governance.models.vault import DataKey
from governance.vault import destruction


class DataKeyOutputSerializer(serializers.ModelSerializer[DataKey]):
    class Meta:
        model = DataKey
        fields = ["key_id", "scope", "status", "destroy_after", "destroyed_at"]


class KeyDestroyApi(APIView):
    """Schedule a data key's destruction for the end of its grace period (officers). Destroying one now, without
    the grace period, takes two officers: a proposal of kind ``key_destroy_now``."""

    @extend_schema_serializer(component_name="KeyDestroyInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why: it goes on the certificate.")

    @extend_schema(operation_id="key_destroy", request=InputSerializer, responses=DataKeyOutputSerializer)
    def post(self, request: Request, key_id: str) -> Response:
        officer = user_who_may(request, Operation.KEY_DESTROY)
        data_key = get_object_or_404(DataKey, key_id=key_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        step_up_check_api(request)
        data_key = destruction.destruction_schedule(
            data_key=data_key, by=actor_for(officer), reason=payload.validated_data["reason"]
        )
        return Response(DataKeyOutputSerializer(data_key).data)
