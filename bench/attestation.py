"""The cost of a decision that needs an attested enclave: with fresh evidence of each kind, and with an attested
session, against a decision that needs none, all in one run on the same scratch database.

    .venv/bin/python bench/attestation.py [--decisions 300] [--database-url ...] [--redis-url ...]

It migrates and seeds a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench_attestation,
dropped and made again: its name must start with accord_bench), configures four verifiers with keys it makes
(tests/attestation_kit.py; the NVIDIA JWKS is served on loopback and fetched as the worker does), amends
Northwind's charter so that infer and evaluate need an attested enclave measured as on an allow-list, and grants
Northwind's gateway that use. Each measured decision is ``governance.decisions.services.decide`` in this process
(the evidence's checks, the policy, the nonce spend, the quota count in Redis, the trail's commit), its evidence made
and its nonce issued beforehand, outside the timing. The plain case is Helix's gateway on its demo grant.

Prints one JSON object per case: p50 and p99 in ms, and the p50's ratio to the plain decision's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.usage import fresh_database  # noqa: E402 (after the path is set)

INFER_TERMS: dict[str, Any] = {
    "verifiers": ["azure-prod", "intel-prod", "nitro-prod"],
    "claims": {
        "anyOf": [
            {"allOf": [{"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False}]},
            {"allOf": [{"claim": "tdx_is_debuggable", "equals": False}]},
            {"allOf": [{"claim": "module_id", "exists": True}]},
        ]
    },
    "measurements": ["atlas-serving"],
    "session_minutes": 60,
}
EVALUATE_TERMS: dict[str, Any] = {
    "verifiers": ["azure-prod"],
    "claims": {"allOf": [{"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False}]},
    "measurements": ["atlas-serving"],
    "gpu": {"verifiers": ["nvidia-prod"], "claims": {"allOf": [{"claim": "measres", "equals": "success"}]}},
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=300, help="decisions timed per case (default 300)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/accord_bench_attestation")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    options = parser.parse_args()

    if not options.database_url.rsplit("/", 1)[-1].startswith("accord_bench"):
        raise SystemExit("The scratch database's name must start with accord_bench: it is dropped and made again.")
    fresh_database(options.database_url)
    var = Path(tempfile.mkdtemp(prefix="accord-attestation-"))
    os.environ.update(
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        ACCORD_VAR_DIR=str(var),
        ACCORD_INSTALL_NAME="bench-attestation",
        DJANGO_SETTINGS_MODULE="accord.settings",
        ACCORD_LOG_LEVEL="ERROR",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    say("migrating and seeding the scratch database")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0, stdout=io.StringIO())
    # Many decisions in a row for one grant: quotas and the rate limit must not be what is measured.
    settings.ACCORD_ATTESTATION_NONCE_SECONDS = 3600
    kit, server = _verifiers(settings, var)
    try:
        _run(kit, options.decisions)
    finally:
        server.close()


def _verifiers(settings: Any, var: Path) -> tuple[Any, Any]:
    """The four verifiers of the tests' kit, configured here, with the NVIDIA keys fetched as the worker does."""
    from governance.attestation.verifiers import jwks_fetch_all
    from tests import attestation_kit as made

    folder = var / "attestation"
    folder.mkdir()
    (folder / "azure.json").write_text(json.dumps(made.jwks(made.jwk(made.AZURE_KEY, "azure-1"))))
    (folder / "intel.json").write_text(json.dumps(made.jwks(made.jwk(made.INTEL_KEY, "intel-1"))))
    chain = made.nitro_test_chain()
    (folder / "nitro-root.pem").write_bytes(chain.root.pem)
    server = made.JwksServer(made.jwks(made.jwk(made.NVIDIA_KEY, "nvidia-1")))
    made.configure(
        settings,
        folder,
        [
            {"name": "azure-prod", "kind": "azure", "issuer": made.AZURE_ISSUER, "jwks_file": "azure.json"},
            {"name": "intel-prod", "kind": "intel", "issuer": made.INTEL_ISSUER, "jwks_file": "intel.json"},
            {"name": "nvidia-prod", "kind": "nvidia", "issuer": made.NVIDIA_ISSUER, "jwks_url": server.url},
            {"name": "nitro-prod", "kind": "nitro", "root_cert_file": "nitro-root.pem"},
        ],
    )
    fetched = jwks_fetch_all()
    if fetched != {"nvidia-prod": "fetched"}:
        raise SystemExit(f"The NVIDIA keys were not fetched from the loopback server: {fetched}")
    return made.AttestationKit(nvidia_server=server, nitro_chain=chain), server


def _world(kit: Any) -> tuple[Any, str, Any]:
    """Northwind's charter amended to ask for attestation, the allow-list, and a grant needing it: (the gateway,
    the asset's fingerprint, the grant)."""
    from accounts.models import User
    from accounts.services import actor_for
    from charters import documents
    from charters.models import AssetVersion, Charter
    from charters.services.charters import (
        charter_acknowledge,
        charter_apply,
        charter_version_approve,
        charter_version_submit,
    )
    from governance.attestation.measurements import measurement_add, measurement_list_create
    from governance.grants.services import grant_approve, grant_request

    olivia, oscar = User.objects.get(username="olivia"), User.objects.get(username="oscar")
    allow_list = measurement_list_create(officer=olivia, name="atlas-serving", title="Benchmark images")
    for measured in kit.measurements.values():
        measurement_add(officer=olivia, allow_list=allow_list, platform=measured.platform, values=dict(measured.values))
    charter = Charter.objects.select_related("active_version").get(slug="northwind-evaluation")
    if charter.active_version is None:
        raise SystemExit("seed_demo left northwind-evaluation without an active version.")
    document = documents.parse((REPO / "charters" / "examples" / "northwind-evaluation.yaml").read_text()).data
    document["validity"] = charter.active_version.document["validity"]  # as seed_demo made it, around today
    for entry in document["actions"]["model"]:
        entry["attestation"] = {"infer": INFER_TERMS, "evaluate": EVALUATE_TERMS}.get(entry["action"])
        if entry["attestation"] is None:
            del entry["attestation"]
    version = charter_apply(text=documents.to_yaml(document), by=actor_for(olivia))
    if version is None:
        raise SystemExit("The amended charter changed nothing: its attestation terms were not applied.")
    charter_version_submit(version=version, by=actor_for(olivia))
    version = charter_version_approve(version=version, by=actor_for(oscar))
    admin = User.objects.get(username="northwind-admin")
    charter_acknowledge(
        version=version,
        trainings_confirmed=[training["name"] for training in version.document.get("trainings", [])],
        by=actor_for(admin),
    )
    gateway = User.objects.get(username="northwind-gateway")
    asset = AssetVersion.objects.get(asset__name="atlas-7b", label="1.0")
    requested = grant_request(
        partner=charter.partner,
        asset_version=asset,
        principal=gateway,
        actions=["infer", "evaluate"],
        purposes=["safety-evaluation"],
        valid_from=_window(version)[0],
        valid_until=_window(version)[1],
        daily_quota=10_000_000,
        monthly_quota=100_000_000,
        rate_per_minute=10_000_000,
        justification="Benchmark of attested decisions.",
        requires_attestation=True,
        by=actor_for(admin),
    )
    grant = grant_approve(grant=requested, by=actor_for(olivia))
    return gateway, asset.fingerprint, grant


def _weights(asset: str) -> None:
    """A small file of the asset version in the encrypted store, so that it has a data key to release."""
    import io

    from accounts.models import User
    from accounts.services import actor_for
    from charters.models import AssetVersion
    from governance.models import Artefact
    from governance.vault.artefacts import artefact_store

    artefact_store(
        source=io.BytesIO(b"benchmark weights"),
        name="model.safetensors",
        kind=Artefact.Kind.ASSET_FILE,
        asset_version=AssetVersion.objects.get(fingerprint=asset),
        by=actor_for(User.objects.get(username="olivia")),
    )


def _window(version: Any) -> tuple[Any, Any]:
    from charters.terms import terms_of

    window = terms_of(version).window
    return window.starts, window.ends


def _timed(label: str, count: int, prepare: Callable[[], Any], decide: Callable[[Any], bool]) -> list[float]:
    """``count`` decisions, each prepared (evidence made, nonce issued) outside the timing; every one must allow."""
    timings = []
    for done in range(count):
        prepared = prepare()
        started = time.perf_counter()
        allowed = decide(prepared)
        timings.append((time.perf_counter() - started) * 1000)
        if not allowed:
            raise SystemExit(f"{label}: decision {done + 1} was denied; the benchmark measures allows only.")
        if sys.stderr.isatty() and done % 20 == 0:
            print(f"\r  {label}: {done + 1}/{count}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    return timings


def _run(kit: Any, count: int) -> None:
    from governance.attestation import release
    from governance.attestation.nonces import nonce_issue
    from governance.decisions import services as decisions

    gateway, asset, _ = _world(kit)
    _weights(asset)

    def ask(action: str, **context: Any) -> bool:
        request = decisions.DecisionRequest(action=action, asset=asset, purpose="safety-evaluation", context=context)
        decision = decisions.decide(gateway, request)
        if not decision.allow:
            say(f"denied: {decision.reasons}")
        return decision.allow

    def fresh(verifier: str, make: Callable[[str], str]) -> Callable[[], dict[str, Any]]:
        return lambda: {"verifier": verifier, "evidence": make(nonce_issue(gateway).value)}

    def with_gpu() -> dict[str, Any]:
        value = nonce_issue(gateway).value
        gpu = {"verifier": "nvidia-prod", "evidence": kit.nvidia(value, gpus=("GPU-0", "GPU-1"))}
        return {"verifier": "azure-prod", "evidence": kit.azure(value), "gpu": gpu}

    request = decisions.DecisionRequest(
        action="infer",
        asset=asset,
        purpose="safety-evaluation",
        context={"attestation": {"verifier": "azure-prod", "evidence": kit.azure(nonce_issue(gateway).value)}},
    )
    opened = decisions.session_open(gateway, request)
    if not isinstance(opened, decisions.OpenedSession):
        raise SystemExit(f"No attested session: {opened}")

    # Warm the policy snapshot, the verifiers file and the connections before anything is timed.
    for _ in range(20):
        ask("infer", session=opened.token)
    cases: list[tuple[str, Callable[[], Any], Callable[[Any], bool]]] = [
        ("attested session", lambda: None, lambda _: ask("infer", session=opened.token)),
        ("fresh azure (RS256)", fresh("azure-prod", kit.azure), lambda given: ask("infer", attestation=given)),
        ("fresh intel (PS384)", fresh("intel-prod", kit.intel), lambda given: ask("infer", attestation=given)),
        (
            "fresh nitro (COSE ES384, chain)",
            fresh("nitro-prod", kit.nitro),
            lambda given: ask("infer", attestation=given),
        ),
        ("fresh azure + nvidia, 2 GPUs", with_gpu, lambda given: ask("evaluate", attestation=given)),
        (
            "key release (attested session, RSA-OAEP-256)",
            lambda: None,
            lambda _: isinstance(
                release.key_release(
                    gateway,
                    decisions.DecisionRequest(
                        action="infer", asset=asset, purpose="safety-evaluation", context={"session": opened.token}
                    ),
                ),
                release.Released,
            ),
        ),
    ]
    baseline = _plain(count)
    emit("plain decision (no attestation)", baseline, baseline)
    for label, prepare, decide in cases:
        emit(label, _timed(label, count, prepare, decide), baseline)


def _plain(count: int) -> list[float]:
    """The same decision path for a demo grant that needs no attestation (Helix's gateway on its own grant)."""
    from accounts.models import User
    from governance.decisions import services as decisions
    from governance.models import Grant

    grant = Grant.objects.filter(principal__username="helix-gateway", status=Grant.Status.ACTIVE).first()
    if grant is None:
        raise SystemExit("seed_demo made no active grant for helix-gateway.")
    principal = User.objects.get(username="helix-gateway")
    request = decisions.DecisionRequest(
        action=grant.actions[0], asset=grant.asset_version.fingerprint, purpose=grant.purposes[0]
    )
    for _ in range(20):
        decisions.decide(principal, request)
    return _timed("plain decision", count, lambda: None, lambda _: decisions.decide(principal, request).allow)


def emit(label: str, timings: list[float], baseline: list[float]) -> None:
    p50 = statistics.median(timings)
    print(
        json.dumps(
            {
                "case": label,
                "decisions": len(timings),
                "p50_ms": round(p50, 3),
                "p99_ms": round(percentile(timings, 0.99), 3),
                "p50_vs_plain": round(p50 / statistics.median(baseline), 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
