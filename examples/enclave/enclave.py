"""An attested enclave, played for the example (issue 26): it attests to Accord, is released the model's key, fetches
and decrypts the model, and serves one inference call, asking Accord before it answers.

    .venv/bin/python examples/enclave/enclave.py --example var/enclave-example/example.json

It reads what examples/enclave/prepare.py wrote (example.json), and its API token from ACCORD_TOKEN or the token
file named there: never from the command line, where other users of the machine could read it. One line per step,
and no secret on any of them:

1. key         its own key pair, made here (RSA 2048, or P-256 with --key ec); the private half never leaves it
2. nonce       POST /api/v1/attestation/nonce
3. evidence    a Microsoft Azure Attestation (MAA) token for an SEV-SNP VM, carrying the nonce, the enclave's
               public key and its image's launch measurement. A real enclave sends its hardware report to MAA and
               gets this token back; here the local test verifier's key signs it (``local_evidence``)
4. session     POST /api/v1/sessions with the evidence: an attested session
5. key release POST /api/v1/key-release with the session: the data key, as a JWE to the enclave's public key
6. unwrap      the data key out of the JWE, with the enclave's private key, checked against its key check
7. ciphertext  GET the model's ciphertext with the session
8. decrypt     chunk by chunk, each chunk checked, then the file's size and SHA-256
9. serve       one POST /infer on a loopback port; Accord decides (context.session) before the enclave answers

Exit status: 0 when the inference call was answered, 1 when Accord refused a step or the call (the line says which
and why), 2 for bad usage. Needs Python 3.11, cryptography, PyJWT and joserfc; not Django.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.registry import HeaderParameter

EnclaveKey = RSAKey | ECKey

# What Accord wraps data keys with, and nothing else: a JWE naming another algorithm is refused unread.
KEY_ALGORITHMS = ("RSA-OAEP-256", "ECDH-ES+A256KW")
CONTENT_ALGORITHM = "A256GCM"
# The header parameters of Accord's own that a JWE may carry beside alg, enc and kid (the data key's id, the asset
# version's fingerprint): understood, so that a JWE naming them is not refused as carrying unknown ones.
REGISTRY = jwe.JWERegistry(
    header_registry={
        "accord_key": HeaderParameter("The id of the data key wrapped", "str"),
        "accord_asset": HeaderParameter("The fingerprint of the asset version it decrypts", "str"),
    },
    algorithms=[*KEY_ALGORITHMS, CONTENT_ALGORITHM],
)
DATA_KEY_BYTES = 32
KEY_CHECK_LABEL = b"accord data key check"
HTTP_TIMEOUT = 30.0

# The ciphertext format (governance/vault/artefacts.py): MAGIC | nonce prefix (8) | chunk size (4, big-endian) |
# chunks, each AES-256-GCM of at most chunk size bytes plus its 16-byte tag.
MAGIC = b"ACCORD-AEAD-1\n"
PREFIX_BYTES, SIZE_BYTES, TAG_BYTES = 8, 4, 16
MAX_CHUNK = 64 * 1024 * 1024


class RefusedError(Exception):
    """Accord refused a step (or could not be reached): ``code`` is its error or deny code."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class KeyUnwrapError(Exception):
    """The JWE cannot be opened with this key, or is not the data key this enclave asked for."""


class CiphertextError(Exception):
    """The ciphertext is not what Accord stored: a header, a chunk, the size or the SHA-256 does not check."""


# --- Talking to Accord ------------------------------------------------------------------------------------------


@dataclass
class Accord:
    """Accord's API, as the gateway principal (its token, scope decide)."""

    url: str
    token: str = field(repr=False)

    def _request(self, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (Accord's URL, from the example)
            urllib.parse.urljoin(self.url + "/", path.lstrip("/")),
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
                **(headers or {}),
            },
        )
        try:
            return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)  # noqa: S310
        except urllib.error.HTTPError as error:
            raise refusal(error.code, error.read()) from None
        except OSError as error:
            raise RefusedError("unreachable", f"Accord at {self.url} did not answer: {error}") from None

    def post(self, path: str, body: Any) -> dict[str, Any]:
        with self._request(path, body) as answer:
            document: dict[str, Any] = json.loads(answer.read())
        return document

    def open(self, path: str, headers: Mapping[str, str]) -> Any:
        """A streamed GET: the answer, to read from and close."""
        return self._request(path, headers=headers)


def refusal(status: int, body: bytes) -> RefusedError:
    """An error answer as a RefusedError: the error shape's code and message, or the status for anything else."""
    try:
        error = json.loads(body)["error"]
        return RefusedError(str(error["code"]), str(error["message"]), status)
    except (ValueError, KeyError, TypeError):
        return RefusedError(f"http_{status}", body[:200].decode("utf-8", "replace"), status)


# --- The enclave's key and its evidence ---------------------------------------------------------------------------


def enclave_key(kind: str = "rsa") -> EnclaveKey:
    """A fresh key pair for this enclave: RSA 2048 (Accord wraps with RSA-OAEP-256) or P-256 (ECDH-ES+A256KW)."""
    return RSAKey.generate_key(2048) if kind == "rsa" else ECKey.generate_key("P-256")


def public_jwk(key: EnclaveKey) -> dict[str, Any]:
    """The public half as the evidence carries it: a JWK named by its RFC 7638 thumbprint, for encryption."""
    return {**key.as_dict(private=False), "kid": key.thumbprint(), "key_ops": ["encrypt"]}


def local_evidence(
    example: Mapping[str, Any], *, nonce: str, key: EnclaveKey, measurement: str, lifetime: int = 300
) -> str:
    """An MAA token as Microsoft Azure Attestation issues it for an SEV-SNP confidential VM, signed RS256 by the
    example's local test verifier instead of by MAA.

    What a real enclave gets from MAA has the same places: the runtime data the enclave gave (its public key in
    ``keys``, Accord's nonce in ``client-payload``) under ``x-ms-runtime``, and the hardware's report as
    ``x-ms-sevsnpvm-*`` claims."""
    verifier = example["verifier"]
    signing_key = (Path(example["_folder"]) / verifier["private_key_file"]).read_bytes()
    now = int(time.time())
    claims = {
        "iss": verifier["issuer"],
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "x-ms-ver": "1.0",
        "x-ms-attestation-type": "sevsnpvm",
        "x-ms-compliance-status": "azure-compliant-cvm",
        "x-ms-sevsnpvm-is-debuggable": False,
        "x-ms-sevsnpvm-launchmeasurement": measurement,
        "x-ms-sevsnpvm-bootloader-svn": 3,
        "x-ms-sevsnpvm-tee-svn": 0,
        "x-ms-sevsnpvm-snpfw-svn": 8,
        "x-ms-sevsnpvm-microcode-svn": 115,
        "x-ms-sevsnpvm-guestsvn": 1,
        "x-ms-runtime": {"client-payload": {"nonce": nonce}, "keys": [public_jwk(key)]},
    }
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": verifier["kid"]})


# --- The released key and the ciphertext --------------------------------------------------------------------------


def key_unwrap(released: Mapping[str, Any], key: EnclaveKey, *, asset: str) -> bytes:
    """The data key out of a key release's answer: its JWE opened with ``key`` (with the algorithms Accord uses
    only), after checking that it was wrapped for this key (by thumbprint), and then that it is the key the answer
    names (its key check) for ``asset``."""
    thumbprint = key.thumbprint()
    if released.get("enclave_key") != thumbprint:
        raise KeyUnwrapError(f"The key was released to enclave key {released.get('enclave_key')}, not to this one.")
    try:
        opened = jwe.decrypt_compact(released["jwe"], key, registry=REGISTRY)
    except (JoseError, ValueError) as error:
        raise KeyUnwrapError(f"The JWE does not open with this enclave's key: {error}") from None
    header = opened.protected
    if header.get("kid") != thumbprint:
        raise KeyUnwrapError("The JWE's header names another enclave key than this one.")
    if header.get("accord_asset", asset) != asset or released.get("asset", asset) != asset:
        raise KeyUnwrapError("The key released is for another asset than the one asked for.")
    if header.get("accord_key", released.get("key_id")) != released.get("key_id"):
        raise KeyUnwrapError("The JWE's header names another data key than the key release's answer.")
    data_key = opened.plaintext or b""
    if len(data_key) != DATA_KEY_BYTES:
        raise KeyUnwrapError(f"The JWE holds {len(data_key)} bytes, not a {DATA_KEY_BYTES}-byte AES key.")
    check = hmac.new(data_key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()
    if "key_check" in released and not hmac.compare_digest(check, str(released["key_check"])):
        raise KeyUnwrapError(f"The unwrapped key is not data key {released.get('key_id')}: its key check differs.")
    return data_key


def _aad(uid: str, chunk: int, index: int, last: bool) -> bytes:
    return f"accord artefact:{uid}:{chunk}:{index}:{1 if last else 0}".encode()


def decrypt(stream: IO[bytes], key: bytes, uid: str) -> Iterator[bytes]:
    """The plaintext of an Accord ciphertext, chunk by chunk, each checked before it is given: a changed,
    reordered, swapped or cut-short chunk raises CiphertextError."""
    header = stream.read(len(MAGIC) + PREFIX_BYTES + SIZE_BYTES)
    if len(header) != len(MAGIC) + PREFIX_BYTES + SIZE_BYTES or not header.startswith(MAGIC):
        raise CiphertextError(f"Artefact {uid}: not an Accord ciphertext (its header is wrong).")
    prefix, chunk = header[len(MAGIC) : len(MAGIC) + PREFIX_BYTES], int.from_bytes(header[-SIZE_BYTES:], "big")
    if not 0 < chunk <= MAX_CHUNK:
        raise CiphertextError(f"Artefact {uid}: a chunk size of {chunk} bytes; its header was changed.")
    aead = AESGCM(key)
    current = _read_full(stream, chunk + TAG_BYTES)
    index = 0
    while True:
        # A chunk is the last when nothing follows it: only a full chunk can be followed by another.
        following = _read_full(stream, chunk + TAG_BYTES) if len(current) == chunk + TAG_BYTES else b""
        last = not following
        try:
            yield aead.decrypt(prefix + index.to_bytes(4, "big"), current, _aad(uid, chunk, index, last))
        except InvalidTag:
            raise CiphertextError(
                f"Artefact {uid}: chunk {index} does not decrypt (changed, moved or cut short)."
            ) from None
        if last:
            return
        current, index = following, index + 1


def _read_full(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes, or fewer only at the end: a network stream may hand them over in pieces."""
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def ciphertext_open(accord: Accord, artefact: Mapping[str, Any], *, action: str, purpose: str, session: str) -> Any:
    """The artefact's ciphertext as a streamed answer, asked with the session; its headers name its key and
    artefact."""
    parts = urllib.parse.urlsplit(artefact["ciphertext_url"])
    query = {"action": action, "purpose": purpose, **dict(urllib.parse.parse_qsl(parts.query))}
    path = urllib.parse.urlunsplit(("", "", parts.path, urllib.parse.urlencode(query), ""))
    return accord.open(path, headers={"Accord-Session": session})


def model_load(plaintext: bytes, artefact: Mapping[str, Any]) -> dict[str, Any]:
    """The decrypted file, once its size and SHA-256 are the ones the key release named."""
    if len(plaintext) != artefact["size_bytes"] or hashlib.sha256(plaintext).hexdigest() != artefact["sha256"]:
        raise CiphertextError(f"Artefact {artefact['uid']} decrypted to another file than the one Accord stored.")
    model: dict[str, Any] = json.loads(plaintext)
    return model


def infer(model: Mapping[str, Any], inputs: Sequence[float]) -> list[float]:
    """y = W x + b."""
    return [
        sum(weight * value for weight, value in zip(row, inputs, strict=True)) + bias
        for row, bias in zip(model["weights"], model["bias"], strict=True)
    ]


# --- Serving one call ---------------------------------------------------------------------------------------------


@dataclass
class Served:
    """The one inference call, once decided: whether it was answered, and the line that says so."""

    allowed: bool
    line: str


class InferenceServer(http.server.HTTPServer):
    """POST /infer on loopback, for the model, asking Accord with the attested session before each answer."""

    def __init__(
        self, port: int, *, accord: Accord, example: Mapping[str, Any], model: Mapping[str, Any], session: str
    ) -> None:
        super().__init__(("127.0.0.1", port), InferenceHandler)
        self.accord, self.example, self.model, self.session = accord, example, model, session
        self.outcome: Served | None = None

    def decided(self, inputs: list[float]) -> tuple[int, dict[str, Any]]:
        """Accord's decision on one call, and the answer to give: the outputs, or the deny's reason."""
        example = self.example
        asked = {"action": example["action"], "asset": example["asset"], "purpose": example["purpose"]}
        try:
            decision = self.accord.post("/api/v1/decisions", {**asked, "context": {"session": self.session}})
        except RefusedError as refused:  # no decision, no answer: fail closed
            self.outcome = Served(False, f"inference: not answered, Accord did not decide ({refused.code})")
            return 503, {"error": {"code": refused.code, "message": refused.message}}
        if not decision["allow"]:
            reason = (decision["reasons"] or [{"code": "denied", "message": "Accord denied the call."}])[0]
            self.outcome = Served(False, f"inference: refused, {reason['code']}: {reason['message']}")
            return 403, {"error": reason, "decision_id": decision["decision_id"]}
        self.outcome = Served(True, f"inference: allowed by decision {decision['decision_id']}, answered")
        outputs = infer(self.model, inputs)
        return 200, {"outputs": outputs, "decision_id": decision["decision_id"], "obligations": decision["obligations"]}


class InferenceHandler(http.server.BaseHTTPRequestHandler):
    server: InferenceServer

    def do_POST(self) -> None:
        if self.path != "/infer":
            self._answer(404, {"error": {"code": "not_found", "message": "POST /infer is the only call here."}})
            return
        expected = len(self.server.model["inputs"])
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            inputs = [float(value) for value in body["inputs"]]
        except (ValueError, KeyError, TypeError):
            inputs = []
        if len(inputs) != expected:
            self._answer(400, {"error": {"code": "invalid", "message": f'Send {{"inputs": [{expected} numbers]}}.'}})
            return
        self._answer(*self.server.decided(inputs))

    def _answer(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the steps' lines are the enclave's log


def serve_one(
    accord: Accord, example: Mapping[str, Any], model: Mapping[str, Any], session: str, *, port: int, wait: float
) -> Served:
    """Serve POST /infer on 127.0.0.1 until Accord has decided one call (bad requests do not count), or ``wait``
    seconds pass."""
    with InferenceServer(port, accord=accord, example=example, model=model, session=session) as server:
        say(f"serve: one inference call at http://127.0.0.1:{server.server_address[1]}/infer")
        deadline = time.monotonic() + wait
        while server.outcome is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return Served(False, f"serve: no inference call came within {wait:g} s")
            server.timeout = left
            server.handle_request()
        return server.outcome


# --- The steps ----------------------------------------------------------------------------------------------------


def say(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout, flush=True)


def example_load(path: Path) -> dict[str, Any]:
    example: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    example["_folder"] = str(path.resolve().parent)
    return example


def token_read(example: Mapping[str, Any]) -> str:
    """The gateway's token: ACCORD_TOKEN when set, else the example's token file."""
    given = os.environ.get("ACCORD_TOKEN", "").strip()
    if given:
        return given
    return (Path(example["_folder"]) / example["token_file"]).read_text(encoding="utf-8").strip()


def attest(accord: Accord, example: Mapping[str, Any], key: EnclaveKey, measurement: str) -> str:
    """Steps 2 to 4: a nonce, evidence carrying it, and an attested session opened on the evidence."""
    nonce = accord.post("/api/v1/attestation/nonce", {})
    say(f"nonce: {nonce['nonce'][:12]}… (expires {nonce['expires_at']})")
    evidence = local_evidence(example, nonce=nonce["nonce"], key=key, measurement=measurement)
    say(
        f"evidence: MAA-shaped token signed by the local verifier {example['verifier']['name']}, launch measurement "
        f"{measurement[:16]}…"
    )
    opened = accord.post(
        "/api/v1/sessions",
        {
            "asset": example["asset"],
            "action": example["action"],
            "purpose": example["purpose"],
            "context": {"attestation": {"verifier": example["verifier"]["name"], "evidence": evidence}},
        },
    )
    say(f"session: attested {opened['attested']}, until {opened['expires_at']}")
    session: str = opened["session"]
    return session


def release(accord: Accord, example: Mapping[str, Any], key: EnclaveKey, session: str) -> dict[str, Any]:
    """Steps 5 to 8: the data key released to this enclave and unwrapped, the model's ciphertext fetched and
    decrypted. The model."""
    asked = {"asset": example["asset"], "action": example["action"], "purpose": example["purpose"]}
    released = accord.post("/api/v1/key-release", {**asked, "session": session})
    say(
        f"key release: data key {released['key_id']} as a {released['alg']}/{released['enc']} JWE to this "
        f"enclave's key (decision {released['decision_id']})"
    )
    data_key = key_unwrap(released, key, asset=example["asset"])
    say(f"unwrap: the {len(data_key)}-byte AES-256 data key, its key check as released")
    named = [item for item in released["artefacts"] if item["name"] == example["model"]["name"]]
    artefact = named[0] if named else released["artefacts"][0]
    with ciphertext_open(
        accord, artefact, action=example["action"], purpose=example["purpose"], session=session
    ) as answer:
        under = answer.headers.get("Accord-Key-Id")
        if under != released["key_id"] or answer.headers.get("Accord-Artefact") != artefact["uid"]:
            raise CiphertextError(f"The ciphertext answered is another artefact's, or under key {under}.")
        say(f"ciphertext: {artefact['name']} (artefact {artefact['uid']}), under key {under}")
        plaintext = b"".join(decrypt(answer, data_key, artefact["uid"]))
    model = model_load(plaintext, artefact)
    say(f"decrypt: {artefact['name']}, {len(plaintext)} bytes, every chunk checked, SHA-256 as stored")
    return model


def run(options: argparse.Namespace) -> int:
    try:
        example = example_load(options.example)
        token = token_read(example)
    except (OSError, ValueError, KeyError) as error:
        say(f"enclave.py: cannot read the example {options.example} or its token: {error}", error=True)
        return 2
    accord = Accord(url=(options.accord or example["accord_url"]).rstrip("/"), token=token)
    measurement = options.measurement or example["measurement"]["launch_measurement"]
    key = enclave_key(options.key)
    say(f"key: made a {'RSA-2048' if options.key == 'rsa' else 'P-256'} key pair, thumbprint {key.thumbprint()}")
    try:
        session = attest(accord, example, key, measurement)
        model = release(accord, example, key, session)
        served = serve_one(accord, example, model, session, port=options.port, wait=options.wait)
    except RefusedError as refused:
        say(f"refused: {refused.code}: {refused.message}")
        return 1
    except (KeyUnwrapError, CiphertextError) as failed:
        say(f"refused: {failed}")
        return 1
    say(served.line)
    return 0 if served.allowed else 1


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="enclave.py",
        description="Play an attested enclave against Accord: attest, be released the model's key, decrypt the "
        "model, and serve one inference call. The API token comes from ACCORD_TOKEN or the example's token file.",
    )
    parser.add_argument(
        "--example",
        type=Path,
        default=Path("var/enclave-example/example.json"),
        help="what prepare.py wrote (default: var/enclave-example/example.json)",
    )
    parser.add_argument("--accord", metavar="URL", help="Accord's address (default: the example's accord_url)")
    parser.add_argument("--key", choices=("rsa", "ec"), default="rsa", help="the enclave's key: RSA 2048 or P-256")
    parser.add_argument(
        "--measurement", metavar="HEX", help="claim this launch measurement instead of the example image's"
    )
    parser.add_argument("--port", type=int, default=0, help="the loopback port to serve on (default: any free one)")
    parser.add_argument(
        "--wait", type=float, default=600.0, help="seconds to wait for the inference call (default: 600)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
