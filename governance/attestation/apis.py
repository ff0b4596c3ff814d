"""Attestation's API: a nonce for a principal's next attestation."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accord import dependencies
from governance.attestation import nonces
from governance.decisions.apis import DecisionPathApi, _principal


class AttestationNonceApi(DecisionPathApi):
    """A nonce for the principal's next attestation: its enclave puts it in the evidence, and a decision spends it
    once (a decision allowed on the evidence, or an attested session opened on it). It expires after
    ACCORD_ATTESTATION_NONCE_SECONDS."""

    @extend_schema_serializer(component_name="AttestationNonce")
    class OutputSerializer(serializers.Serializer[Any]):
        nonce = serializers.CharField(help_text="Put it in the evidence's nonce field; it is good for one attestation.")
        expires_at = serializers.DateTimeField()

    @extend_schema(operation_id="attestation_nonce", request=None, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response | JsonResponse:
        principal = _principal(request)
        try:
            nonce = nonces.nonce_issue(principal)
        except nonces.NonceStoreUnavailableError as error:
            return dependencies.api_unavailable(error)  # no nonce, rather than one no spend could find
        return Response(
            self.OutputSerializer({"nonce": nonce.value, "expires_at": nonce.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )
