"""The usage API: decisions over time from the roll-up, and each grant's quota used and left from the counters the
decision point enforces."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.fields import TextField
from accord.pagination import whole_number
from accounts.access import principals_visible_to, request_user
from governance import access
from governance.decisions import limits
from governance.models import Grant
from governance.usage.selectors import MAX_POINTS, points_between, usage_rows, usage_series
from governance.usage.services import Interval

LARGEST_ID = 10**18 - 1  # within PostgreSQL's bigint: a larger number names no grant, and must not reach a query
DEFAULT_SPAN = {
    Interval.MINUTE: timedelta(hours=1),
    Interval.HOUR: timedelta(hours=24),
    Interval.DAY: timedelta(days=30),
}


class UsageApi(APIView):
    """Allowed and denied decisions per interval, denies by their code, as the roll-up counted them (a minute or two
    behind the decision point: the trail is sealed, then counted). Officers and auditors see any partner's, a
    partner admin their own partner's."""

    @extend_schema_serializer(component_name="UsageQuery")
    class QuerySerializer(serializers.Serializer[None]):
        interval = serializers.ChoiceField(choices=Interval.choices, default=Interval.HOUR)
        since = serializers.DateTimeField(
            required=False, help_text="Default: a day back for hours, an hour for minutes."
        )
        until = serializers.DateTimeField(required=False, help_text="Default: now.")
        partner = TextField(required=False, max_length=64, help_text="A partner's slug (the host's people).")
        grant = serializers.IntegerField(required=False, min_value=1, max_value=LARGEST_ID)
        principal = TextField(required=False, max_length=150, help_text="A principal's name.")
        asset = TextField(required=False, max_length=64, help_text="An asset version's fingerprint.")
        action = TextField(required=False, max_length=64)

    @extend_schema_serializer(component_name="UsagePoint")
    class PointSerializer(serializers.Serializer[Any]):
        start = serializers.DateTimeField()
        allowed = serializers.IntegerField()
        denied = serializers.IntegerField()
        deny_rate = serializers.FloatField(allow_null=True, help_text="Denied over all; null when nothing was asked.")
        denied_by_code = serializers.DictField(child=serializers.IntegerField())

    @extend_schema_serializer(component_name="Usage")
    class OutputSerializer(serializers.Serializer[Any]):
        interval = serializers.CharField()
        since = serializers.DateTimeField()
        until = serializers.DateTimeField()
        series = serializers.ListField(child=serializers.DictField())

    @extend_schema(operation_id="usage", parameters=[QuerySerializer], responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        interval = wanted["interval"]
        until = wanted.get("until") or timezone.now()
        since = wanted.get("since") or until - DEFAULT_SPAN[interval]
        _check_span(interval, since, until)
        rows = usage_rows(
            user,
            partner=wanted.get("partner", ""),
            grant_id=_grant_of(user, wanted["grant"]).pk if wanted.get("grant") else None,
            principal=str(_principal_of(user, wanted["principal"]).pk) if wanted.get("principal") else None,
            asset=wanted.get("asset"),
            action=wanted.get("action"),
        )
        series = usage_series(rows, interval=interval, since=since, until=until)
        return Response(
            {
                "interval": interval,
                "since": since,
                "until": until,
                "series": [{**self.PointSerializer(point).data} for point in series],
            }
        )


def _check_span(interval: str, since: datetime, until: datetime) -> None:
    if since >= until:
        raise ValidationError({"since": ["since must be before until."]})
    if points_between(interval, since, until) > MAX_POINTS:
        raise ValidationError(
            {"interval": [f"That is more than {MAX_POINTS} {interval}s: ask for a larger interval or a shorter span."]}
        )


def _grant_of(user: Any, pk: int) -> Grant:
    # Another partner's grant is answered as one that does not exist: the message names only what was asked.
    grant = access.grants_visible_to(user).filter(pk=pk).first()
    if grant is None:
        raise ValidationError({"grant": [f"No grant #{pk} among those you can see."]})
    return grant


def _principal_of(user: Any, username: str) -> Any:
    principal = principals_visible_to(user).filter(username=username).first()
    if principal is None:
        raise ValidationError({"principal": ["No principal of that name among those you can see."]})
    return principal


class QuotaSerializer(serializers.Serializer[Any]):
    grant = serializers.IntegerField()
    partner = serializers.CharField()
    principal = serializers.CharField(allow_null=True)
    partner_role = serializers.CharField(allow_null=True)
    asset = serializers.CharField()
    rate_per_minute = serializers.IntegerField()
    used_this_minute = serializers.IntegerField()
    daily_quota = serializers.IntegerField()
    used_today = serializers.IntegerField()
    left_today = serializers.IntegerField()
    monthly_quota = serializers.IntegerField()
    used_this_month = serializers.IntegerField()
    left_this_month = serializers.IntegerField()


class QuotaListApi(ListAPIView[Grant]):
    """Each active grant's limits and what is used of them now (UTC minute, day and month), read from the counters
    the decision point enforces: these are exact and current, where the roll-up is a minute behind."""

    serializer_class = QuotaSerializer
    queryset = Grant.objects.none()  # names the model for the schema; get_queryset() scopes the real one

    @extend_schema(operation_id="usage_quotas", parameters=[OpenApiParameter("grant", int, required=False)])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        grants = access.grants_visible_to(request_user(self.request)).filter(status=Grant.Status.ACTIVE).order_by("id")
        wanted = whole_number(self.request, "grant", default=0, minimum=1, maximum=LARGEST_ID)
        return grants.filter(pk=wanted) if wanted else grants

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        used = limits.used_many(page, timezone.now())  # one round trip to Redis for the page
        quotas = [_quota(grant, counted) for grant, counted in zip(page, used, strict=True)]
        return self.get_paginated_response(QuotaSerializer(quotas, many=True).data)


def _quota(grant: Grant, used: limits.Used) -> dict[str, Any]:
    return {
        "grant": grant.pk,
        "partner": grant.partner.slug,
        "principal": grant.principal.username if grant.principal else None,
        "partner_role": grant.partner_role.slug if grant.partner_role else None,
        "asset": grant.asset_version.fingerprint,
        "rate_per_minute": grant.rate_per_minute,
        "used_this_minute": used.minute,
        "daily_quota": grant.daily_quota,
        "used_today": used.day,
        "left_today": max(grant.daily_quota - used.day, 0),
        "monthly_quota": grant.monthly_quota,
        "used_this_month": used.month,
        "left_this_month": max(grant.monthly_quota - used.month, 0),
    }
