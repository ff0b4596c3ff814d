"""Attestation evidence the tests make themselves: keys, JWKS (files and a loopback server), tokens and documents
for every verifier kind, and the verifiers file that names them.

Every token and document here is really signed, with keys made here: the verifiers check them exactly as they check
a real verifier's. The ``attestation_kit`` fixture configures four verifiers (azure-prod, intel-prod, nvidia-prod,
nitro-prod) and answers good evidence of each kind, whose claims a test overrides one at a time:

    kit.azure(nonce)                                             # a good SEV-SNP token
    kit.azure(nonce, **{"x-ms-sevsnpvm-is-debuggable": True})    # the same, debuggable
    kit.nvidia(nonce, gpus=("GPU-0", "GPU-1"), gpu_claims={"measres": "fail"})
    kit.nitro(nonce, pcrs={0: "00" * 48, 1: kit.pcrs[1], 2: kit.pcrs[2]})
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.utils import timezone
from pycose.algorithms import CoseAlgorithm, Es384
from pycose.headers import Algorithm
from pycose.keys import EC2Key
from pycose.keys.curves import P256, P384, P521
from pycose.messages import Sign1Message

from governance.attestation.evidence import Measured
from governance.attestation.verifiers import jwks_fetch_all

AZURE_ISSUER = "https://contoso.weu.attest.azure.net"
INTEL_ISSUER = "https://portal.trustauthority.intel.com"
NVIDIA_ISSUER = "https://nras.attestation.nvidia.com"


# --- Keys ---------------------------------------------------------------------------------------------------


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key (2048 bits), as the Azure and Intel verifiers and the enclaves sign with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh EC key, P-384 unless told: what NRAS and the Nitro Secure Module sign ES384 with."""
    return ec.generate_private_key(curve or ec.SECP384R1())


AZURE_KEY, INTEL_KEY, OTHER_KEY = rsa_key(), rsa_key(), rsa_key()
NVIDIA_KEY, OTHER_EC_KEY = ec_key(), ec_key()
# The enclave's own key pair: its public half rides in the evidence (Azure's x-ms-runtime.keys, Nitro's public_key)
# so that a key released to the enclave can be wrapped for it.
ENCLAVE_KEY = rsa_key()
ENCLAVE_KID = "enclave-1"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def jwk(key: PrivateKey | PublicKey, kid: str) -> dict[str, Any]:
    """The public JWK of ``key`` (RSA or EC, private or public), named ``kid``."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    if isinstance(public, rsa.RSAPublicKey):
        document = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        document = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {**document, "kid": kid}


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    """A JWKS holding ``keys``."""
    return {"keys": list(keys)}


def public_der(key: PrivateKey) -> bytes:
    """``key``'s public half as DER SubjectPublicKeyInfo, as a Nitro document's public_key carries it."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --- The verifiers file and the keys cache ------------------------------------------------------------------


def configure(settings: Any, tmp_path: Path, entries: list[dict[str, Any]], suffix: str = ".yaml") -> Path:
    """Write ``entries`` as the verifiers file (YAML, or JSON for ``.json``) and point the setting at it."""
    path = tmp_path / f"verifiers{suffix}"
    path.write_text(json.dumps(entries) if suffix == ".json" else yaml.safe_dump(entries))
    settings.ACCORD_ATTESTATION_VERIFIERS_FILE = path
    return path


def file_cache(settings: Any, location: Path) -> None:
    """Fetched keys in a file cache of this test's own (the embedded mode's cache), so no test sees another's."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(location)}
    }


class JwksServer:
    """A JWKS served on loopback at ``url`` (the Azure key unless another ``document`` is given); ``status`` is
    what it answers (200 unless set). ``close()`` stops it."""

    def __init__(self, document: Mapping[str, Any] | None = None) -> None:
        self.status = 200
        body = json.dumps(document or jwks(jwk(AZURE_KEY, "azure-1"))).encode()
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(served.status if self.path == "/certs" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Azure and Intel tokens ---------------------------------------------------------------------------------

# What each kind's good evidence measured: SHA-384 sized values, as the platforms report them.
SNP_MEASUREMENT = hashlib.sha384(b"accord test SEV-SNP guest").hexdigest()
TDX_MRTD = hashlib.sha384(b"accord test TDX trust domain").hexdigest()

AZURE_CLAIMS: dict[str, Any] = {
    "x-ms-attestation-type": "sevsnpvm",
    "x-ms-compliance-status": "azure-compliant-cvm",
    "x-ms-sevsnpvm-is-debuggable": False,
    "x-ms-sevsnpvm-bootloader-svn": 3,
    "x-ms-sevsnpvm-tee-svn": 0,
    "x-ms-sevsnpvm-snpfw-svn": 8,
    "x-ms-sevsnpvm-microcode-svn": 115,
    "x-ms-sevsnpvm-guestsvn": 1,
    "x-ms-sevsnpvm-launchmeasurement": SNP_MEASUREMENT,
}
INTEL_CLAIMS: dict[str, Any] = {
    "attester_type": "TDX",
    "attester_tcb_status": "UpToDate",
    "tdx_is_debuggable": False,
    "tdx_mrtd": TDX_MRTD,
}


def _times(lifetime: int = 600) -> dict[str, int]:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + lifetime}


def azure_token(
    nonce: str, key: PrivateKey = AZURE_KEY, kid: str = "azure-1", alg: str = "RS256", **claims: Any
) -> str:
    """A good Microsoft Azure Attestation token for an SEV-SNP VM (AZURE_CLAIMS, the nonce and the enclave's key in
    x-ms-runtime), signed RS256 with the Azure key; ``claims`` replace or add claims."""
    body = {
        "iss": AZURE_ISSUER,
        **_times(),
        **AZURE_CLAIMS,
        "x-ms-runtime": {"client-payload": {"nonce": nonce}, "keys": [jwk(ENCLAVE_KEY, ENCLAVE_KID)]},
        **claims,
    }
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def intel_token(
    nonce: str, key: PrivateKey = INTEL_KEY, kid: str = "intel-1", alg: str = "PS384", **claims: Any
) -> str:
    """A good Intel Trust Authority token for a TDX trust domain (INTEL_CLAIMS, the nonce as verifier_nonce.val),
    signed PS384 with the Intel key; ``claims`` replace or add claims."""
    body = {
        "iss": INTEL_ISSUER,
        **_times(),
        **INTEL_CLAIMS,
        "verifier_nonce": {"val": base64.b64encode(nonce.encode()).decode(), "iat": "", "signature": ""},
        **claims,
    }
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


# --- NVIDIA: NRAS's detached EAT ----------------------------------------------------------------------------

NVIDIA_GPU_CLAIMS: dict[str, Any] = {
    "measres": "success",
    "dbgstat": "disabled",
    "secboot": True,
    "hwmodel": "GH100 A01 GSP BROM",
    "oemid": "5703",
    "x-nvidia-gpu-driver-version": "570.133.20",
    "x-nvidia-gpu-vbios-version": "96.00.CF.00.02",
    "x-nvidia-gpu-arch-check": True,
    "x-nvidia-gpu-attestation-report-cert-chain-validated": True,
    "x-nvidia-gpu-attestation-report-signature-verified": True,
    "x-nvidia-gpu-attestation-report-nonce-match": True,
    "x-nvidia-attestation-warning": None,
}
NVIDIA_OVERALL_CLAIMS: dict[str, Any] = {
    "sub": "NVIDIA-PLATFORM-ATTESTATION",
    "x-nvidia-ver": "2.0",
    "x-nvidia-overall-att-result": True,
}


def _submod_digest(token: str, name: str, encoding: str) -> list[Any]:
    raw = hashlib.sha256(token.encode()).digest()
    value = raw.hex() if encoding == "hex" else base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return ["DIGEST", [name, value]]


def nvidia_evidence(
    nonce: str,
    *,
    gpus: Sequence[str] = ("GPU-0",),
    gpu_claims: Mapping[str, Any] | None = None,
    overall_claims: Mapping[str, Any] | None = None,
    claims_by_gpu: Mapping[str, Mapping[str, Any]] | None = None,
    key: PrivateKey = NVIDIA_KEY,
    gpu_key: PrivateKey | None = None,
    kid: str = "nvidia-1",
    alg: str = "ES384",
    swap: Mapping[str, str] | None = None,
    digest_name: str = "SHA-256",
    digest_encoding: str = "hex",
) -> str:
    """NRAS's answer for ``gpus``, as the JSON string it sends: ``[["JWT", overall], {name: GPU token}]``.

    Every GPU token carries NVIDIA_GPU_CLAIMS, then ``gpu_claims``, then its own ``claims_by_gpu[name]``; the overall
    token NVIDIA_OVERALL_CLAIMS, submods (each GPU token's digest, named ``digest_name``, ``digest_encoding`` "hex"
    or "base64url"), then ``overall_claims``. All are signed ``alg`` with ``key`` (the GPU tokens with ``gpu_key``
    when given). ``swap`` replaces GPU tokens by name after the overall token is signed, as an attacker would."""
    tokens: dict[str, str] = {}
    for name in gpus:
        body = {
            "iss": NVIDIA_ISSUER,
            **_times(3600),
            "jti": str(uuid.uuid4()),
            "ueid": str(uuid.uuid4().int),
            "eat_nonce": nonce,
            **NVIDIA_GPU_CLAIMS,
            **(gpu_claims or {}),
            **(claims_by_gpu or {}).get(name, {}),
        }
        tokens[name] = jwt.encode(body, gpu_key or key, algorithm=alg, headers={"kid": kid})
    overall = {
        "iss": NVIDIA_ISSUER,
        **_times(3600),
        "jti": str(uuid.uuid4()),
        "eat_nonce": nonce,
        **NVIDIA_OVERALL_CLAIMS,
        "submods": {name: _submod_digest(token, digest_name, digest_encoding) for name, token in tokens.items()},
        **(overall_claims or {}),
    }
    signed = jwt.encode(overall, key, algorithm=alg, headers={"kid": kid})
    return json.dumps([["JWT", signed], {**tokens, **(swap or {})}], separators=(",", ":"))


def nvidia_gpu_token(evidence: str, name: str = "GPU-0") -> str:
    """The token of GPU ``name`` in NRAS's answer ``evidence``."""
    return str(json.loads(evidence)[1][name])


# --- AWS Nitro: a test CA and COSE_Sign1 documents ----------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def issue(
    common_name: str,
    *,
    issuer: Issued | None,
    ca: bool,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Issued:
    """A P-384 certificate for ``common_name`` signed SHA-384 by ``issuer`` (self-signed when None), a CA or not,
    valid from an hour ago for a day unless told."""
    key = key or ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = timezone.now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(hours=1))
        .not_valid_after(not_after or now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return Issued(key, builder.sign(issuer.key if issuer else key, hashes.SHA384()))


@dataclass(frozen=True)
class NitroChain:
    """A root, an intermediate and a leaf, as AWS chains a Nitro enclave's signing certificate."""

    root: Issued
    intermediate: Issued
    leaf: Issued

    def cabundle(self) -> list[bytes]:
        """The document's cabundle: the root first, then the intermediate (DER)."""
        return [self.root.der, self.intermediate.der]


def nitro_chain(
    name: str = "aws.nitro-enclaves",
    *,
    root: Issued | None = None,
    leaf_not_before: datetime | None = None,
    leaf_not_after: datetime | None = None,
) -> NitroChain:
    """A fresh chain under a new root called ``name`` (or under ``root``), its leaf valid as told."""
    root = root or issue(name, issuer=None, ca=True)
    intermediate = issue(f"{name} intermediate", issuer=root, ca=True)
    leaf = issue(
        f"{name} enclave leaf", issuer=intermediate, ca=False, not_before=leaf_not_before, not_after=leaf_not_after
    )
    return NitroChain(root, intermediate, leaf)


@functools.cache
def nitro_test_chain() -> NitroChain:
    """The chain whose root the kit's nitro-prod verifier trusts (made once per test run)."""
    return nitro_chain()


# PCR0 (the enclave image), PCR1 (kernel and boot ramdisk), PCR2 (the application): SHA-384, as hex.
NITRO_PCRS = {index: hashlib.sha384(f"accord test enclave PCR{index}".encode()).hexdigest() for index in (0, 1, 2)}
NITRO_MODULE_ID = "i-0123456789abcdef0-enc0123456789abcdef"
_COSE_CURVES = {"secp256r1": P256, "secp384r1": P384, "secp521r1": P521}


def cose_key(key: ec.EllipticCurvePrivateKey) -> EC2Key:
    """``key`` as pycose's EC2Key, to sign with."""
    numbers, size = key.private_numbers(), (key.curve.key_size + 7) // 8
    return EC2Key(
        crv=_COSE_CURVES[key.curve.name],
        d=numbers.private_value.to_bytes(size, "big"),
        x=numbers.public_numbers.x.to_bytes(size, "big"),
        y=numbers.public_numbers.y.to_bytes(size, "big"),
    )


def nitro_document(
    nonce: str | None,
    *,
    pcrs: Mapping[int, bytes | str] | None = None,
    public_key: bytes | None = None,
    user_data: bytes | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    chain: NitroChain | None = None,
    cabundle: Sequence[bytes] | None = None,
    timestamp_ms: int | None = None,
    alg: type[CoseAlgorithm] = Es384,
    tag: bool = True,
    urlsafe: bool = False,
) -> str:
    """A Nitro attestation document as its base64 (standard with padding, or URL-safe without), a COSE_Sign1 signed
    with pycose by ``chain``'s leaf key (or ``key``) under ``alg``.

    The payload is what the NSM gives: module_id, digest SHA384, timestamp (now unless told, in ms), pcrs (NITRO_PCRS
    and zeros for PCR3, 4 and 8, unless given: {index: bytes or hex}), the leaf certificate and cabundle (the chain's
    unless given), and public_key, user_data and nonce (its ASCII bytes), each null when None."""
    chain = chain or nitro_test_chain()
    given = pcrs if pcrs is not None else {**NITRO_PCRS, 3: "00" * 48, 4: "00" * 48, 8: "00" * 48}
    payload = {
        "module_id": NITRO_MODULE_ID,
        "digest": "SHA384",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "pcrs": {index: bytes.fromhex(value) if isinstance(value, str) else value for index, value in given.items()},
        "certificate": chain.leaf.der,
        "cabundle": list(cabundle if cabundle is not None else chain.cabundle()),
        "public_key": public_key,
        "user_data": user_data,
        "nonce": nonce.encode("ascii") if nonce is not None else None,
    }
    message = Sign1Message(phdr={Algorithm: alg}, payload=cbor2.dumps(payload))
    message.key = cose_key(key or chain.leaf.key)
    raw = message.encode(tag=tag)
    if urlsafe:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return base64.b64encode(raw).decode()


# --- The kit ------------------------------------------------------------------------------------------------


@dataclass
class AttestationKit:
    """Four configured verifiers and good evidence for each; see the module docstring."""

    nvidia_server: JwksServer
    nitro_chain: NitroChain
    enclave_private_key: rsa.RSAPrivateKey = ENCLAVE_KEY
    enclave_jwk: dict[str, Any] = field(default_factory=lambda: jwk(ENCLAVE_KEY, ENCLAVE_KID))
    snp_measurement: str = SNP_MEASUREMENT
    tdx_mrtd: str = TDX_MRTD
    pcrs: dict[int, str] = field(default_factory=lambda: dict(NITRO_PCRS))
    azure_claims: dict[str, Any] = field(default_factory=lambda: dict(AZURE_CLAIMS))
    intel_claims: dict[str, Any] = field(default_factory=lambda: dict(INTEL_CLAIMS))
    nvidia_gpu_claims: dict[str, Any] = field(default_factory=lambda: dict(NVIDIA_GPU_CLAIMS))
    nvidia_overall_claims: dict[str, Any] = field(default_factory=lambda: dict(NVIDIA_OVERALL_CLAIMS))

    @property
    def measurements(self) -> dict[str, Measured]:
        """What each verifier name's good evidence measured, as an allow-list entry would name it."""
        return {
            "azure-prod": Measured("snp", {"launch_measurement": self.snp_measurement}),
            "intel-prod": Measured("tdx", {"mrtd": self.tdx_mrtd}),
            "nitro-prod": Measured("nitro", {f"pcr{index}": value for index, value in self.pcrs.items()}),
        }

    def azure(self, nonce: str, **claims: Any) -> str:
        """A good azure-prod token for ``nonce``; ``claims`` replace or add claims."""
        return azure_token(nonce, **claims)

    def intel(self, nonce: str, **claims: Any) -> str:
        """A good intel-prod token for ``nonce``; ``claims`` replace or add claims."""
        return intel_token(nonce, **claims)

    def nvidia(self, nonce: str, **options: Any) -> str:
        """Good nvidia-prod evidence for ``nonce``; ``options`` are nvidia_evidence's (gpus, gpu_claims, ...)."""
        return nvidia_evidence(nonce, **options)

    def nitro(self, nonce: str | None, **options: Any) -> str:
        """A good nitro-prod document for ``nonce``, carrying the enclave's public key unless ``public_key`` is
        given (None for none); ``options`` are nitro_document's."""
        options.setdefault("public_key", public_der(self.enclave_private_key))
        options.setdefault("chain", self.nitro_chain)
        return nitro_document(nonce, **options)


@pytest.fixture
def attestation_kit(settings: Any, tmp_path: Path) -> Iterator[AttestationKit]:
    """The four verifiers configured (Azure and Intel keys as JWKS files, NVIDIA's on a loopback JWKS server and
    fetched into this test's own file cache, Nitro's root as a PEM file), and the kit to make their evidence."""
    folder = tmp_path / "attestation"
    folder.mkdir()
    file_cache(settings, folder / "cache")
    (folder / "azure.json").write_text(json.dumps(jwks(jwk(AZURE_KEY, "azure-1"))))
    (folder / "intel.json").write_text(json.dumps(jwks(jwk(INTEL_KEY, "intel-1"))))
    chain = nitro_test_chain()
    (folder / "nitro-root.pem").write_bytes(chain.root.pem)
    server = JwksServer(jwks(jwk(NVIDIA_KEY, "nvidia-1")))
    try:
        configure(
            settings,
            folder,
            [
                {"name": "azure-prod", "kind": "azure", "issuer": AZURE_ISSUER, "jwks_file": "azure.json"},
                {"name": "intel-prod", "kind": "intel", "issuer": INTEL_ISSUER, "jwks_file": "intel.json"},
                {"name": "nvidia-prod", "kind": "nvidia", "issuer": NVIDIA_ISSUER, "jwks_url": server.url},
                {"name": "nitro-prod", "kind": "nitro", "root_cert_file": "nitro-root.pem"},
            ],
        )
        fetched = jwks_fetch_all()
        assert fetched == {"nvidia-prod": "fetched"}, f"the kit's NVIDIA keys were not fetched: {fetched}"
        yield AttestationKit(nvidia_server=server, nitro_chain=chain)
    finally:
        server.close()
