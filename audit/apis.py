"""The trail's API: the public keys, a partner-scoped search, and exports with their signed manifests."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accord.pagination import NewestFirstPagination
from audit import chain, exports
from audit.access import actor_of, export_get_for_user, export_job_get_for_user, trail_scope
from audit.actions import action_filter_choices
from audit.models import Event, ExportFile, ExportJob, SigningKey
from audit.selectors import event_list
from audit.trail import record


class PublicKeyApi(APIView):
    authentication_classes: list[type] = []

    @extend_schema(operation_id="audit_public_keys", responses=dict, auth=[])
    def get(self, request: Request) -> Response:
        """The trail's signing keys, current and past: pin one to verify checkpoints and exports offline."""
        current = chain.signer()
        keys = [
            {"key_id": key.key_id, "public_key": key.public_key, "first_used_at": key.first_used_at}
            for key in SigningKey.objects.all()
        ]
        if current.key_id not in {key["key_id"] for key in keys}:  # configured, not used yet
            keys.append({"key_id": current.key_id, "public_key": current.public_key, "first_used_at": None})
        return Response({"algorithm": "Ed25519", "current": current.key_id, "keys": keys})


class EventSerializer(serializers.ModelSerializer[Event]):
    class Meta:
        model = Event
        fields = [
            "id", "occurred_at", "actor_type", "actor_id", "actor_label", "partner", "action", "target_type",
            "target_id", "outcome", "reason", "request_id", "client_address", "details", "chain_seq", "digest",
            "chain_hash",
        ]  # fmt: skip


class PartnerEventSerializer(EventSerializer):
    """What a partner admin reads: their partner's events, without the client addresses of the host's people."""

    class Meta(EventSerializer.Meta):
        fields = [name for name in EventSerializer.Meta.fields if name != "client_address"]


class NewestFirst(NewestFirstPagination):
    page_size = 100


class EventListApi(ListAPIView[Event]):
    """Search the trail. A partner admin sees only their own partner's events, whatever the filters say."""

    serializer_class = EventSerializer
    pagination_class = NewestFirst

    class FilterSerializer(serializers.Serializer[None]):
        """The query's filters; the OpenAPI document's parameters are made from this, so they say what it reads."""

        partner = TextField(
            required=False,
            default="",
            allow_blank=True,
            max_length=64,
            help_text="A partner's slug (the host's people only).",
        )
        action = serializers.ChoiceField(
            choices=action_filter_choices(),
            required=False,
            default="",
            allow_blank=True,
            help_text="An action, or a family of them by its prefix ending in '.', e.g. grant.",
        )
        actor = TextField(required=False, default="", allow_blank=True, max_length=150, help_text="The actor's name.")
        outcome = serializers.ChoiceField(
            choices=["", *Event.Outcome.values],
            required=False,
            default="",
            allow_blank=True,
            help_text="Empty: any outcome.",
        )
        since = serializers.DateTimeField(
            required=False, default=None, help_text="ISO 8601 time: events at or after it."
        )
        until = serializers.DateTimeField(required=False, default=None, help_text="ISO 8601 time: events before it.")

    @extend_schema(operation_id="audit_events", parameters=[FilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_serializer_class(self) -> Any:
        if getattr(self, "swagger_fake_view", False) or trail_scope(self.request.user) is None:
            return EventSerializer
        return PartnerEventSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Event.objects.none()
        scope = trail_scope(self.request.user)
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        if scope is not None:
            data["partner"] = scope
        return event_list(**data)


class ExportCreateApi(APIView):
    @extend_schema_serializer(component_name="AuditExport")
    class InputSerializer(serializers.Serializer[None]):
        format = serializers.ChoiceField(choices=["jsonl", "csv"], default="jsonl")
        partner = TextField(
            required=False, allow_blank=True, default="", help_text="One partner's slice; partners get their own."
        )
        since = serializers.DateTimeField(required=False, allow_null=True, default=None)
        until = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(operation_id="audit_export", request=InputSerializer, responses={202: dict})
    def post(self, request: Request) -> Response:
        """Queue an export of sealed events with a signed manifest; its ``url`` says when both can be downloaded."""
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        scope = trail_scope(request.user)
        if scope is not None and data["partner"] not in ("", scope):
            with transaction.atomic():
                record(action="audit.export_denied", actor=actor_of(request.user), partner=scope,
                       outcome=Event.Outcome.DENIED, reason=f"asked for partner {data['partner'][:64]!r}")  # fmt: skip
            raise Http404("No such partner among yours.")
        try:
            job = exports.export_queue(
                by=actor_of(request.user),
                requested_by=str(request.user.pk),
                scope=scope if scope is not None else (data["partner"] or None),
                fmt=data["format"],
                since=data["since"],
                until=data["until"],
            )
        except exports.ExportError as error:
            raise ValidationError([str(error)]) from None
        return Response(_job_json(job), status=status.HTTP_202_ACCEPTED)


def _job_json(job: ExportJob) -> dict[str, Any]:
    base = f"/api/v1/audit/exports/{job.pk}"
    answer: dict[str, Any] = {"id": str(job.pk), "status": job.status, "url": base, "error": job.error}
    if job.status == ExportJob.Status.DONE:
        export = ExportFile.objects.get(pk=job.pk)
        answer.update(manifest=export.manifest, file=f"{base}/file", manifest_url=f"{base}/manifest")
    return answer


class ExportStatusApi(APIView):
    @extend_schema(operation_id="audit_export_status", responses=dict)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        """Where an export stands: queued, running, done (with its manifest and download links) or failed (why)."""
        return Response(_job_json(export_job_get_for_user(request.user, pk)))


class ExportDownloadApi(APIView):
    @extend_schema(operation_id="audit_export_download", responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: uuid.UUID, part: str) -> FileResponse:
        path = exports.export_file(export_get_for_user(request.user, pk), part)
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
