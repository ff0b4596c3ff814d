"""The policy bundle API: the recorded bundles, their diff, and rollback."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts import proposals
from accounts.access import request_user, user_who_may
from accounts.apis import ProposalOutputSerializer, proposal_response
from accounts.models import Proposal, User
from accounts.operations import Operation
from accounts.services import actor_for
from governance import access
from governance.models import PolicyBundle
from governance.policy import rollback
from governance.policy import selectors as bundle_selectors


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
        bundle = bundle_selectors.bundle_get(ref)
        lines = bundle_selectors.lines_by_charter(bundle_selectors.bundle_lines(bundle))
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
        old, new = bundle_selectors.bundle_get(refs["from"]), bundle_selectors.bundle_get(refs["to"])
        groups = bundle_selectors.bundle_diff(old, new)
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

    @extend_schema(
        operation_id="bundle_rollback",
        request=InputSerializer,
        responses={200: dict, 202: ProposalOutputSerializer},
        summary="Plan a rollback (dry run, 200) or propose it for a second officer to confirm (202)",
    )
    def post(self, request: Request, ref: str) -> Response:
        _bundle_reader(request)
        user = user_who_may(request, Operation.POLICY_ROLLBACK)
        bundle = bundle_selectors.bundle_get(ref)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data["dry_run"]:
            return Response(rollback.rollback_plan(bundle).as_json())
        # A rollback takes two officers: this proposes it, and a second officer confirms the proposal.
        proposal = proposals.proposal_make(
            kind=Proposal.Kind.POLICY_ROLLBACK,
            target=bundle.hash,
            reason=data["reason"],
            expected_check=data["plan"],
            by=actor_for(user),
        )
        return proposal_response(proposal, status_code=status.HTTP_202_ACCEPTED)
