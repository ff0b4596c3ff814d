"""API for people and tokens: one class per operation, each validating, calling a service and serializing."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts import access, lockout, proposals, services
from accounts.access import request_user
from accounts.models import ApiToken, Partner, Proposal, User
from accounts.operations import Operation
from accounts.scopes import MEANINGS, Scope
from accounts.stepup import step_up_check_api


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
    scopes = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "owner",
            "prefix",
            "scopes",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_scopes(self, token: ApiToken) -> list[str]:
        return token.scopes.split()


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
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=[(scope.value, MEANINGS[scope]) for scope in Scope]),
            required=False,
            allow_empty=False,
            help_text="What the token may be used for; the owner's role's default when left out. Principals: decide "
            "(and pep for a gateway); people: manage, read_audit (partner admins also exit).",
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
            scopes=payload.validated_data.get("scopes"),
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


class ProposalOutputSerializer(serializers.ModelSerializer[Proposal]):
    proposed_by = serializers.CharField(source="proposed_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    plan = serializers.ListField(child=serializers.CharField(), help_text="What confirming does, line by line.")

    class Meta:
        model = Proposal
        fields = [
            "id",
            "kind",
            "target",
            "target_label",
            "partner",
            "reason",
            "plan",
            "status",
            "proposed_by",
            "proposed_at",
            "expires_at",
            "decided_by",
            "decided_at",
            "outcome",
            "result_url",
        ]


def proposal_response(proposal: Proposal, *, status_code: int = status.HTTP_200_OK) -> Response:
    response = Response(ProposalOutputSerializer(proposal).data, status=status_code)
    if status_code == status.HTTP_202_ACCEPTED:
        response["Location"] = reverse("api:proposal-detail", kwargs={"pk": proposal.pk})
    return response


def _proposal_get(request: Request, pk: int) -> Proposal:
    user = request_user(request)
    proposals.proposals_lapse()
    return get_object_or_404(proposals.proposals_visible_to(user), pk=pk)


class ProposalListApi(ListAPIView[Proposal]):
    """Every proposal, newest first (the host's officers and auditors); ``?status=pending`` for the open ones."""

    serializer_class = ProposalOutputSerializer
    queryset = Proposal.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    @extend_schema(
        operation_id="proposal_list",
        parameters=[OpenApiParameter("status", enum=Proposal.Status.values, required=False)],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        user = request_user(self.request)
        proposals.proposals_lapse()
        found = proposals.proposals_visible_to(user)
        wanted = self.request.query_params.get("status", "")
        if wanted:
            if wanted not in Proposal.Status.values:
                raise DrfValidationError({"status": [f"Status is one of {', '.join(Proposal.Status.values)}."]})
            found = found.filter(status=wanted)
        return found


class ProposalCreateApi(APIView):
    @extend_schema_serializer(component_name="ProposalInput")
    class InputSerializer(serializers.Serializer[None]):
        kind = serializers.ChoiceField(choices=Proposal.Kind.choices)
        target = TextField(
            max_length=200,
            help_text="What it acts on: the charter's slug, the bundle's full hash, the data key's id, the username.",
        )
        reason = TextField(max_length=2000, help_text="Why: the second officer reads it, and the trail keeps it.")

    @extend_schema(
        operation_id="proposal_create",
        request=InputSerializer,
        responses={202: ProposalOutputSerializer},
        summary="Propose an irreversible act; a second officer confirms it",
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        proposal = proposals.proposal_make(**payload.validated_data, by=services.actor_for(user))
        return proposal_response(proposal, status_code=status.HTTP_202_ACCEPTED)


class ProposalDetailApi(APIView):
    @extend_schema(operation_id="proposal_detail", responses=ProposalOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return proposal_response(_proposal_get(request, pk))


class ProposalConfirmApi(APIView):
    @extend_schema(
        operation_id="proposal_confirm",
        request=None,
        responses=ProposalOutputSerializer,
        summary="Confirm another officer's proposal: its act is carried out now, or it fails saying why",
    )
    def post(self, request: Request, pk: int) -> Response:
        proposal = _proposal_get(request, pk)
        step_up_check_api(request)
        proposal = proposals.proposal_confirm(proposal=proposal, by=services.actor_for(request_user(request)))
        return proposal_response(proposal)


class ProposalWithdrawApi(APIView):
    @extend_schema_serializer(component_name="ProposalWithdrawInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(operation_id="proposal_withdraw", request=InputSerializer, responses=ProposalOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        proposal = _proposal_get(request, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        proposal = proposals.proposal_withdraw(
            proposal=proposal, by=services.actor_for(request_user(request)), reason=payload.validated_data["reason"]
        )
        return proposal_response(proposal)


class PrincipalOutputSerializer(serializers.ModelSerializer[User]):
    partner = serializers.CharField(source="organisation.slug")
    name = serializers.CharField(source="get_full_name")
    active_tokens = serializers.IntegerField(read_only=True)

    class Meta:
        model = User
        fields = ["username", "name", "partner", "is_active", "date_joined", "active_tokens"]


def _principals(user: User):  # type: ignore[no-untyped-def]
    return access.principals_visible_to(user).annotate(
        active_tokens=Count(
            "api_tokens",
            filter=Q(api_tokens__revoked_at__isnull=True, api_tokens__expires_at__gt=timezone.now()),
        )
    )


class PrincipalListApi(ListAPIView[User]):
    """Principals you manage: your partner's (partner admins), every partner's (the host's staff)."""

    serializer_class = PrincipalOutputSerializer
    queryset = User.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    @extend_schema(operation_id="principal_list")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return _principals(request_user(self.request))


class PrincipalCreateApi(APIView):
    @extend_schema_serializer(component_name="PrincipalInput")
    class InputSerializer(serializers.Serializer[None]):
        username = TextField(max_length=150, help_text="The principal's name, e.g. 'northwind-eval-gateway'.")
        name = TextField(required=False, allow_blank=True, default="", max_length=150)
        partner = TextField(required=False, help_text="Officers: the partner's slug. Partner admins: their own.")

    @extend_schema(operation_id="principal_create", request=InputSerializer, responses={201: PrincipalOutputSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        partner = user.organisation
        if data.get("partner") and data["partner"] != partner.slug:
            partner = get_object_or_404(access.partners_visible_to(user), slug=data["partner"])
        principal = services.principal_create(
            partner=partner, username=data["username"], full_name=data["name"], by=services.actor_for(user)
        )
        return Response(
            PrincipalOutputSerializer(_principals(user).get(pk=principal.pk)).data, status=status.HTTP_201_CREATED
        )


class PrincipalDisableApi(APIView):
    @extend_schema_serializer(component_name="PrincipalDisableInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why: the trail keeps it.")

    @extend_schema(operation_id="principal_disable", request=InputSerializer, responses=PrincipalOutputSerializer)
    def post(self, request: Request, username: str) -> Response:
        user = request_user(request)
        principal = get_object_or_404(_principals(user), username=username)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.principal_disable(
            principal=principal, reason=payload.validated_data["reason"], by=services.actor_for(user)
        )
        return Response(PrincipalOutputSerializer(_principals(user).get(pk=principal.pk)).data)


class PersonDeactivateApi(APIView):
    """Deactivate a person or principal (officers): their sessions end and their tokens are revoked at once."""

    @extend_schema_serializer(component_name="PersonDeactivateInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why: the trail keeps it.")

    @extend_schema(operation_id="person_deactivate", request=InputSerializer, responses=dict)
    def post(self, request: Request, username: str) -> Response:
        officer = access.user_who_may(request, Operation.USER_DEACTIVATE)
        target = get_object_or_404(User, username=username)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        was_active = services.user_deactivate(
            user=target, reason=payload.validated_data["reason"], by=services.actor_for(officer)
        )
        return Response({"username": target.username, "is_active": False, "was_active": was_active})


LOCK_KINDS = [("account", "An account, by username"), ("address", "A client address")]


class LoginUnlockApi(APIView):
    """Lift a login lock (officers) before its time: an account by username, or an address."""

    @extend_schema_serializer(component_name="LoginUnlockInput")
    class InputSerializer(serializers.Serializer[None]):
        kind = serializers.ChoiceField(choices=LOCK_KINDS)
        value = TextField(max_length=200, help_text="The username, or the IP address.")

    @extend_schema(operation_id="login_unlock", request=InputSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        officer = access.user_who_may(request, Operation.LOGIN_UNLOCK)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        cleared = lockout.login_unlock(kind=data["kind"], value=data["value"], by=services.actor_for(officer))
        return Response({"kind": data["kind"], "value": data["value"], "cleared": cleared})
