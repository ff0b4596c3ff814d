"""Accord's URLs plus ``POST /bench/bare``: a DRF endpoint that parses the same JSON body and answers a small JSON
object, with no authentication, no database and no Redis. It is the ceiling the decision API is measured against."""

from typing import Any

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.urls import urlpatterns as accord_urlpatterns


class BareApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"allow": True, "asked": sorted(request.data)})


urlpatterns = [path("bench/bare", BareApi.as_view()), *accord_urlpatterns]
