"""The enclave example end to end (issue 26): prepare.py's world in the test database, the web server as deployed with
the example's verifiers file, and enclave.py as its own process. The enclave attests, is released the model's key,
fetches and decrypts the model, and serves one inference call, which the test sends; an enclave whose image is not
on the allow-list gets no key, a key released to one enclave opens with no other, and an enclave whose image comes
off the list refuses its next call.

The enclave's own pieces (its unwrap and its reading of the ciphertext format) are checked here too, without a
server, against what Accord's vault writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe
from joserfc.errors import JoseError

from accounts.models import ApiToken
from accounts.services import api_token_authenticate
from audit.models import Event
from examples.enclave import enclave, prepare
from governance.attestation.measurements import measurement_remove
from governance.models import Measurement, MeasurementList
from governance.vault.artefacts import _encrypt
from tests.conftest import committing
from tests.helpers import wait_for
from tests.processes import REPO, WebServer, web_server

ENCLAVE = REPO / "examples" / "enclave" / "enclave.py"
LIVENESS = 30.0  # seconds: a generous bound for one step on a loaded 2-core machine
INPUTS = [1.0, 2.0, -0.5]
UNLISTED = hashlib.sha384(b"an image nobody registered").hexdigest()


@pytest.fixture
def example(tmp_path: Path, fresh_usage_counters: None) -> prepare.Prepared:
    """prepare.py's world in the test database, its files in the test's folder. The enclave is told the server's
    address (--accord), which is not known yet."""
    return prepare.prepare(out=tmp_path / "example", accord_url="http://127.0.0.1:9")


@pytest.fixture
def accord(example: prepare.Prepared) -> Iterator[WebServer]:
    with web_server(ACCORD_ATTESTATION_VERIFIERS_FILE=str(example.verifiers_file)) as server:
        yield server


@dataclass
class Enclave:
    """enclave.py running: its output lines as they come, and where it serves once it says so."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, step: str) -> str:
        found = wait_for(
            lambda: next((line for line in self.lines if line.startswith(f"{step}:")), None), timeout=LIVENESS
        )
        assert found, f"enclave.py printed no {step!r} line within {LIVENESS} s: {self.lines}"
        return str(found)

    def infer(self, inputs: list[float]) -> tuple[int, dict[str, Any]]:
        url = self.line("serve").rsplit(" ", 1)[1]
        request = urllib.request.Request(  # noqa: S310 (loopback)
            url, data=json.dumps({"inputs": inputs}).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=LIVENESS) as answer:  # noqa: S310 (loopback)
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def finished(self) -> int:
        return self.process.wait(timeout=LIVENESS)


@contextlib.contextmanager
def enclave_process(server: WebServer, example: prepare.Prepared, *options: str) -> Iterator[Enclave]:
    """enclave.py against ``server``, with its token from the example's file (ACCORD_TOKEN unset)."""
    env = {name: value for name, value in os.environ.items() if name != "ACCORD_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, str(ENCLAVE), "--example", str(example.example_file), "--accord", server.url, *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Enclave(process)
    reader = threading.Thread(target=running.read, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(timeout=5)


def gateway(server: WebServer, example: prepare.Prepared) -> enclave.Accord:
    """Accord's API as the example's gateway, for the steps a test takes itself."""
    return enclave.Accord(url=server.url, token=example.token_file.read_text().strip())


def evidence(accord: enclave.Accord, example: prepare.Prepared, key: enclave.EnclaveKey, measurement: str) -> str:
    nonce = accord.post("/api/v1/attestation/nonce", {})["nonce"]
    loaded = enclave.example_load(example.example_file)
    return enclave.local_evidence(loaded, nonce=nonce, key=key, measurement=measurement)


def asked(example: prepare.Prepared) -> dict[str, str]:
    return {"asset": example.example["asset"], "action": "infer", "purpose": example.example["purpose"]}


# --- The example, end to end ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg"), [("rsa", "RSA-OAEP-256"), ("ec", "ECDH-ES+A256KW")])
@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_the_enclave_attests_decrypts_the_model_and_answers_one_call_that_accord_allowed(accord, example, key, alg):
    with enclave_process(accord, example, "--key", key) as running:
        status, answer = running.infer(INPUTS)
        assert running.finished() == 0, running.lines
    assert status == 200, answer
    assert answer["outputs"] == pytest.approx(enclave.infer(prepare.MODEL, INPUTS))
    steps = [line.split(":", 1)[0] for line in running.lines]
    assert steps == [
        "key",
        "nonce",
        "evidence",
        "session",
        "key release",
        "unwrap",
        "ciphertext",
        "decrypt",
        "serve",
        "inference",
    ], running.lines
    assert alg in running.line("key release") and "every chunk checked" in running.line("decrypt")
    allowed = Event.objects.get(action="decision.allow", details__decision_id=answer["decision_id"])
    assert "session" in allowed.details["attestation"]
    output = "\n".join(running.lines)
    assert example.token_file.read_text().strip() not in output and "ses_" not in output, "a secret was printed"


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_an_enclave_whose_image_is_not_on_the_allow_list_gets_no_session_and_no_key(accord, example):
    api = gateway(accord, example)
    key = enclave.enclave_key()
    attestation = {"verifier": prepare.VERIFIER, "evidence": evidence(api, example, key, UNLISTED)}
    with pytest.raises(enclave.RefusedError) as refused:
        api.post("/api/v1/key-release", {**asked(example), "attestation": attestation})
    assert refused.value.status == 403 and refused.value.code == "attestation_claims_unmet"
    assert "is not on the allow-list enclave-example-images" in refused.value.message

    with enclave_process(accord, example, "--measurement", UNLISTED) as running:
        assert running.finished() == 1
    assert "attestation_claims_unmet" in running.line("refused") and not any(
        line.startswith("key release:") for line in running.lines
    )


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_a_key_released_to_one_enclave_opens_with_its_key_and_no_other(accord, example):
    api = gateway(accord, example)
    key, other = enclave.enclave_key(), enclave.enclave_key()
    attestation = {"verifier": prepare.VERIFIER, "evidence": evidence(api, example, key, prepare.IMAGE_MEASUREMENT)}
    released = api.post("/api/v1/key-release", {**asked(example), "attestation": attestation})

    with pytest.raises(JoseError):
        jwe.decrypt_compact(released["jwe"], other, registry=enclave.REGISTRY)
    with pytest.raises(enclave.KeyUnwrapError):
        enclave.key_unwrap(released, other, asset=example.example["asset"])
    assert len(enclave.key_unwrap(released, key, asset=example.example["asset"])) == 32


@pytest.mark.postgres
@pytest.mark.redis
@committing
def test_an_enclave_whose_image_comes_off_the_allow_list_refuses_its_next_call(accord, example):
    with enclave_process(accord, example) as running:
        running.line("serve")
        entry = Measurement.objects.get(allow_list=MeasurementList.objects.get(name=prepare.ALLOW_LIST))
        officer = entry.added_by
        measurement_remove(officer=officer, entry=entry, reason="The example image is withdrawn.")
        status, answer = running.infer(INPUTS)
        assert running.finished() == 1
    assert status == 403 and answer["error"]["code"] == "attestation_measurement_removed", answer
    assert "outputs" not in answer and "attestation_measurement_removed" in running.line("inference")


# --- prepare.py -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prepare_run_twice_changes_nothing_but_the_gateways_token(example):
    first = example.token_file.read_text().strip()
    events = Event.objects.count()
    again = prepare.prepare(out=example.out, accord_url="http://127.0.0.1:9")
    assert again.created == [], "a second run made something again"
    assert list(Event.objects.order_by("id")[events:].values_list("action", flat=True)) == ["api_token.rotated"]
    assert api_token_authenticate(first) is None and api_token_authenticate(again.token_file.read_text().strip())
    assert ApiToken.objects.get(name=prepare.TOKEN_NAME).scopes == "decide"
    for private in (again.token_file, again.out / "verifier-key.pem"):
        assert private.stat().st_mode & 0o777 == 0o600, private


@pytest.mark.django_db
def test_prepare_refuses_to_run_in_production(settings, tmp_path):
    settings.PRODUCTION = True
    with pytest.raises(prepare.PreparationRefusedError, match="ACCORD_ENV=production"):
        prepare.prepare(out=tmp_path / "example", accord_url="https://accord.example.org")
    assert not (tmp_path / "example").exists()


# --- The enclave's own reading of Accord's formats ------------------------------------------------------------------


def ciphertext(content: bytes, key: bytes, uid: str) -> bytes:
    out = io.BytesIO()
    _encrypt(io.BytesIO(content), key, uid, out)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 277, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1234])
def test_the_enclave_decrypts_what_the_vault_encrypts_in_one_chunk_or_several(size):
    key, content = os.urandom(32), os.urandom(size)
    decrypted = b"".join(enclave.decrypt(io.BytesIO(ciphertext(content, key, "a1")), key, "a1"))
    assert decrypted == content


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda data: data[:-1], id="last-chunk-cut"),
        pytest.param(lambda data: data[: 14 + 12 + 1024 * 1024 + 16], id="cut-at-a-chunk-boundary"),
        pytest.param(lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:], id="a-byte-flipped"),
        pytest.param(lambda data: data[:20] + b"\x00\x00\x00\x10" + data[24:], id="chunk-size-changed"),
    ],
)
def test_the_enclave_refuses_a_changed_ciphertext(change):
    key = os.urandom(32)
    data = change(ciphertext(os.urandom(1024 * 1024 + 5), key, "a1"))
    with pytest.raises(enclave.CiphertextError):
        b"".join(enclave.decrypt(io.BytesIO(data), key, "a1"))


def test_the_enclave_refuses_another_artefacts_ciphertext():
    key = os.urandom(32)
    with pytest.raises(enclave.CiphertextError, match="chunk 0"):
        b"".join(enclave.decrypt(io.BytesIO(ciphertext(b"weights", key, "a1")), key, "a2"))


def released_to(key: enclave.EnclaveKey, data_key: bytes, **header: str) -> dict[str, Any]:
    """A key release's answer as Accord gives it, the data key wrapped to ``key`` (and ``header`` in the JWE's)."""
    alg = "RSA-OAEP-256" if isinstance(key, enclave.RSAKey) else "ECDH-ES+A256KW"
    protected = {"alg": alg, "enc": "A256GCM", "kid": key.thumbprint(), **header}
    token = jwe.encrypt_compact(protected, data_key, key, registry=enclave.REGISTRY)
    check = hmac.new(data_key, b"accord data key check", hashlib.sha256).hexdigest()
    return {"enclave_key": key.thumbprint(), "key_id": "k1", "key_check": check, "asset": "f" * 64, "jwe": token}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_the_enclave_unwraps_a_key_wrapped_to_it_and_checks_it_is_the_one_named(kind):
    key, data_key = enclave.enclave_key(kind), os.urandom(32)
    released = released_to(key, data_key, accord_key="k1", accord_asset="f" * 64)
    assert enclave.key_unwrap(released, key, asset="f" * 64) == data_key
    with pytest.raises(enclave.KeyUnwrapError, match="another asset"):
        enclave.key_unwrap(released, key, asset="e" * 64)
    with pytest.raises(enclave.KeyUnwrapError, match="released to enclave key"):
        enclave.key_unwrap({**released, "enclave_key": "someone-else"}, key, asset="f" * 64)
    with pytest.raises(enclave.KeyUnwrapError, match="key check differs"):
        enclave.key_unwrap({**released, "key_check": "0" * 64}, key, asset="f" * 64)
