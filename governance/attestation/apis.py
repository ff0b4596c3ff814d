"""Attestation's API: a nonce for a principal's next attestation, key release to an attested enclave, and the
ciphertext a released key decrypts."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accord import dependencies
from accord.api_errors import error_body
from accord.fields import TextField
from accord.schema import ErrorSerializer
from governance.attestation import nonces, release
from governance.decisions.apis import DecisionPathApi, DepthLimited, _principal
from governance.decisions.services import DecisionRequest
from governance.models import Artefact


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


class KeyReleaseApi(DecisionPathApi):
    """An asset version's data key for an attested enclave: the request is decided like any decision (with the
    evidence or the attested session it names) and, when allowed, the key comes back as a JWE to the enclave's
    public key from its CPU TEE evidence, with the files it decrypts."""

    @extend_schema_serializer(component_name="KeyReleaseRequest")
    class InputSerializer(DepthLimited):
        nested = "A key release request"
        asset = TextField(max_length=128, help_text="The asset version's SHA-256 fingerprint.")
        action = TextField(max_length=64, help_text="What the enclave will do with it: infer, evaluate, ...")
        purpose = TextField(max_length=64)
        session = TextField(max_length=128, required=False, help_text="An attested session (POST /api/v1/sessions).")
        attestation = serializers.DictField(
            required=False, help_text='Fresh evidence: {"verifier", "evidence", "gpu"}, with a nonce of yours.'
        )

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            if ("session" in data) == ("attestation" in data):
                raise ValidationError(
                    "Give session (an attested session) or attestation (fresh evidence carrying your nonce), not both "
                    "and not neither: a key is released only to an enclave that shows it is attested."
                )
            return data

        def to_request(self) -> DecisionRequest:
            data = self.validated_data
            context = {"session": data["session"]} if "session" in data else {"attestation": data["attestation"]}
            return DecisionRequest(action=data["action"], asset=data["asset"], purpose=data["purpose"], context=context)

    @extend_schema_serializer(component_name="ReleasedArtefact")
    class ArtefactSerializer(serializers.Serializer[Any]):
        uid = serializers.CharField()
        name = serializers.CharField()
        size_bytes = serializers.IntegerField(help_text="Of the plaintext.")
        sha256 = serializers.CharField(help_text="Of the plaintext: check it once decrypted.")
        ciphertext_url = serializers.SerializerMethodField()

        def get_ciphertext_url(self, artefact: Artefact) -> str:
            return str(reverse("api:artefact-ciphertext", args=[artefact.uid]))

    @extend_schema_serializer(component_name="KeyRelease")
    class OutputSerializer(serializers.Serializer[Any]):
        decision_id = serializers.CharField()
        key_id = serializers.CharField(help_text="The data key's id: the ciphertext's Accord-Key-Id header names it.")
        key_check = serializers.CharField(
            help_text='HMAC-SHA256 of "accord data key check" under the key (hex): check the unwrapped key with it.'
        )
        asset = serializers.CharField()
        alg = serializers.CharField(help_text="RSA-OAEP-256 (an RSA enclave key) or ECDH-ES+A256KW (an EC one).")
        enc = serializers.CharField(help_text="A256GCM.")
        enclave_key = serializers.CharField(help_text="RFC 7638 thumbprint of the enclave key wrapped to (the kid).")
        jwe = serializers.CharField(help_text="Compact JWE whose plaintext is the 32-byte AES-256 data key.")
        artefacts = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="key_release",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The key is scheduled for destruction or destroyed."),
        },
    )
    def post(self, request: Request) -> Response | JsonResponse:
        principal = _principal(request)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            released = release.key_release(principal, payload.to_request())
        except nonces.NonceStoreUnavailableError as error:
            return dependencies.api_unavailable(error)
        if isinstance(released, release.Refused):
            return _refusal(released)
        artefacts = self.ArtefactSerializer(released.artefacts, many=True).data
        return Response(
            {
                "decision_id": released.decision_id,
                "key_id": released.key_id,
                "key_check": released.key_check,
                "asset": released.asset,
                "alg": released.wrapped.alg,
                "enc": release.ENC,
                "enclave_key": released.wrapped.thumbprint,
                "jwe": released.wrapped.jwe,
                "artefacts": artefacts,
            }
        )


def _refusal(refused: release.Refused) -> JsonResponse:
    if refused.code == "dependency_unavailable":
        # The decision failed closed (its event may not even be written): a 503 to retry, naming no decision.
        refused = release.Refused("service_unavailable", refused.message, status=503)
    body = error_body(refused.code, refused.message)
    if refused.decision_id:
        body["error"]["decision_id"] = refused.decision_id
    response = JsonResponse(body, status=refused.status)
    if refused.status == 503:
        response["Retry-After"] = str(dependencies.retry_after())
    return response


class CiphertextApi(DecisionPathApi):
    """One of an asset version's files as stored: encrypted under the version's data key (the format is in the
    enclave guide). Asking for it is a decision for ``action``: name an attested session in the Accord-Session
    header when the grant needs one."""

    @extend_schema_serializer(component_name="CiphertextQuery")
    class QuerySerializer(serializers.Serializer[None]):
        action = TextField(max_length=64, help_text="What the enclave will do with the file: infer, evaluate, ...")
        purpose = TextField(max_length=64)

    @extend_schema(
        operation_id="artefact_ciphertext",
        parameters=[QuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, uid: str) -> HttpResponseBase:
        principal = _principal(request)
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        opened = release.ciphertext_open(
            principal,
            uid[:64],
            action=query.validated_data["action"],
            purpose=query.validated_data["purpose"],
            session=request.headers.get("Accord-Session", "")[:128],
        )
        if isinstance(opened, release.Refused):
            return _refusal(opened)
        response = StreamingHttpResponse(opened.chunks, content_type="application/octet-stream")
        response["Content-Length"] = str(opened.size)
        response["Content-Disposition"] = f'attachment; filename="{opened.artefact.uid}.enc"'
        response["Accord-Key-Id"] = opened.key_id
        response["Accord-Artefact"] = opened.artefact.uid
        response["Cache-Control"] = "no-store"
        return response
