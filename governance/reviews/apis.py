"""The access-review API for the host's staff: list and start reviews, answer items (one or several), close one."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accounts.access import request_user
from accounts.services import actor_for
from charters.models import Charter
from governance.models import ReviewCampaign, ReviewItem
from governance.reviews import selectors as review_selectors
from governance.reviews import services as reviews


class ReviewItemSerializer(serializers.ModelSerializer[ReviewItem]):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = ReviewItem
        fields = ["id", "grant", "reviewer", "decision", "justification", "decided_at", "outcome"]


class ReviewSerializer(serializers.ModelSerializer[ReviewCampaign]):
    charter = serializers.CharField(source="charter.slug")

    class Meta:
        model = ReviewCampaign
        fields = ["id", "charter", "trigger", "status", "created_at", "created_by", "deadline", "closed_at"]


class ReviewDetailSerializer(ReviewSerializer):
    items = ReviewItemSerializer(many=True, read_only=True)

    class Meta(ReviewSerializer.Meta):
        fields = [*ReviewSerializer.Meta.fields, "close_reason", "items"]


def _review(request: Request, pk: int) -> ReviewCampaign:
    # Reviews are the host's: the authorization matrix admits its officers and auditors only (accounts/matrix.py).
    return get_object_or_404(ReviewCampaign.objects.select_related("charter"), pk=pk)


class ReviewListApi(ListAPIView[ReviewCampaign]):
    serializer_class = ReviewSerializer
    queryset = ReviewCampaign.objects.none()  # names the model for the schema; get_queryset() gives the real one

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return review_selectors.reviews_with_counts()  # the host's staff only, by the matrix


class ReviewStartApi(APIView):
    @extend_schema_serializer(component_name="ReviewStartInput")
    class InputSerializer(serializers.Serializer[None]):
        charter = TextField(max_length=64, help_text="The charter's slug: its live grants are reviewed.")

    @extend_schema(operation_id="review_start", request=InputSerializer, responses={201: ReviewDetailSerializer})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        charter = get_object_or_404(Charter, slug=payload.validated_data["charter"])
        campaign = reviews.review_start(charter=charter, by=actor_for(user))
        return Response(ReviewDetailSerializer(campaign).data, status=status.HTTP_201_CREATED)


class ReviewDetailApi(APIView):
    @extend_schema(operation_id="review_detail", responses=ReviewDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReviewDetailSerializer(_review(request, pk)).data)


class ReviewAnswerApi(APIView):
    """The same answer for one or several items of the review: all of them, or none if any cannot take it."""

    @extend_schema_serializer(component_name="ReviewAnswerInput")
    class InputSerializer(serializers.Serializer[None]):
        items = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=1000)
        decision = serializers.ChoiceField(choices=ReviewItem.Decision.choices)
        justification = TextField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(operation_id="review_answer", request=InputSerializer, responses=ReviewDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        campaign = _review(request, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        reviews.review_decide_bulk(
            campaign=campaign,
            item_ids=data["items"],
            decision=data["decision"],
            justification=data["justification"],
            by=actor_for(request_user(request)),
        )
        campaign.refresh_from_db()
        return Response(ReviewDetailSerializer(campaign).data)


class ReviewCloseApi(APIView):
    @extend_schema_serializer(component_name="ReviewCloseInput")
    class InputSerializer(serializers.Serializer[None]):
        reason = TextField(max_length=2000, help_text="Why it closes before every item is answered.")

    @extend_schema(operation_id="review_close", request=InputSerializer, responses=ReviewDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        campaign = _review(request, pk)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        campaign = reviews.review_close(
            campaign=campaign, reason=payload.validated_data["reason"], by=actor_for(request_user(request))
        )
        return Response(ReviewDetailSerializer(campaign).data)
