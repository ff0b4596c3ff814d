"""Attestation at the decision point (issue 25): a charter asks per action for verifiers, claims and measurements;
each kind of evidence, made and signed by the kit (tests/attestation_kit.py), is allowed when good and denied with
its code when not; attested sessions end with their lifetime or their measurement's removal; the trail keeps the
evidence's digest."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from charters.documents import CharterDocumentError
from charters.services.charters import charter_apply
from governance.attestation.measurements import measurement_add, measurement_list_create, measurement_remove
from governance.models import DecisionSession, Measurement
from tests.attestation_kit import OTHER_KEY, nitro_chain
from tests.faults import loopback_peer
from tests.helpers import codes
from tests.world import activate

# What infer asks of an enclave: a CPU TEE of any of three kinds, not debuggable, measured as on atlas-serving.
INFER_TERMS: dict[str, Any] = {
    "verifiers": ["azure-prod", "intel-prod", "nitro-prod"],
    "claims": {
        "anyOf": [
            {
                "allOf": [
                    {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                    {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False},
                ]
            },
            {
                "allOf": [
                    {"claim": "tdx_is_debuggable", "equals": False},
                    {"claim": "attester_tcb_status", "equals": "UpToDate"},
                ]
            },
            {"allOf": [{"claim": "module_id", "exists": True}]},
        ]
    },
    "measurements": ["atlas-serving"],
    "session_minutes": 30,
}
# What evaluate asks: an Azure SEV-SNP VM with an NVIDIA GPU beside it, both attested.
EVALUATE_TERMS: dict[str, Any] = {
    "verifiers": ["azure-prod"],
    "claims": {"allOf": [{"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False}]},
    "gpu": {
        "verifiers": ["nvidia-prod"],
        "claims": {
            "allOf": [
                {"claim": "x-nvidia-overall-att-result", "equals": True},
                {"claim": "measres", "equals": "success"},
                {"claim": "dbgstat", "equals": "disabled"},
            ]
        },
    },
}


def with_terms(document: dict[str, Any], **terms_by_action: dict[str, Any]) -> None:
    for entry in document["actions"]["model"]:
        if entry["action"] in terms_by_action:
            entry["attestation"] = copy.deepcopy(terms_by_action[entry["action"]])


@pytest.fixture
def serving(attestation_kit, officer):
    """The allow-list atlas-serving, holding the environments the kit's good evidence measures."""
    allow_list = measurement_list_create(officer=officer, name="atlas-serving", title="atlas-7b serving images")
    for verifier, measured in attestation_kit.measurements.items():
        measurement_add(
            officer=officer,
            allow_list=allow_list,
            platform=measured.platform,
            values=dict(measured.values),
            note=f"the image {verifier} measures",
        )
    return allow_list


@pytest.fixture
def live_charter(attestation_kit, serving, charter_text, officer, second_officer, a_admin):
    """Northwind's charter, active and accepted, asking infer and evaluate for attested enclaves (this module's
    charter: the world's make_grant and make_request stand on it)."""
    text = charter_text(lambda document: with_terms(document, infer=INFER_TERMS, evaluate=EVALUATE_TERMS))
    return activate(text, officer, second_officer, accept_by=a_admin)


@pytest.fixture
def gateway(api_as, a_principal):
    return api_as(a_principal)


@pytest.fixture
def kit(attestation_kit):
    return attestation_kit


def nonce(caller) -> str:
    response = caller.client.post("/api/v1/attestation/nonce")
    assert response.status_code == 201, response.content
    value: str = response.json()["nonce"]
    return value


def ask(caller, asset, action="infer", purpose="safety-evaluation", **context) -> dict[str, Any]:
    response = caller.client.post(
        "/api/v1/decisions", {"action": action, "asset": asset, "purpose": purpose, "context": context}, format="json"
    )
    assert response.status_code == 200, response.content
    answer: dict[str, Any] = response.json()
    return answer


def attested(verifier: str, evidence: str, gpu: str | None = None) -> dict[str, Any]:
    """context.attestation: the CPU TEE's evidence, and NVIDIA's (nvidia-prod) beside it when ``gpu`` is given."""
    beside = {"gpu": {"verifier": "nvidia-prod", "evidence": gpu}} if gpu else {}
    return {"verifier": verifier, "evidence": evidence, **beside}


def message(answer: dict[str, Any]) -> str:
    text: str = answer["reasons"][0]["message"]
    return text


# --- Each kind, allowed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("verifier", ["azure-prod", "intel-prod", "nitro-prod"])
def test_good_evidence_of_each_cpu_kind_is_allowed_and_recorded_with_its_digest(
    gateway, make_grant, atlas, kit, verifier
):
    grant = make_grant(requires_attestation=True)
    evidence = {"azure-prod": kit.azure, "intel-prod": kit.intel, "nitro-prod": kit.nitro}[verifier](nonce(gateway))
    answer = ask(gateway, atlas, attestation=attested(verifier, evidence))
    assert answer["allow"] is True, answer
    recorded = Event.objects.get(action="decision.allow", details__decision_id=answer["decision_id"])
    cpu = recorded.details["attestation"]["cpu"]
    assert recorded.details["grant"] == grant.pk and cpu["verifier"] == verifier
    assert cpu["measurement"]["platform"] == kit.measurements[verifier].platform
    raw = base64.b64decode(evidence) if verifier == "nitro-prod" else evidence.encode()
    assert cpu["evidence"] == hashlib.sha256(raw).hexdigest()


def test_a_cpu_tee_with_nvidia_gpus_beside_it_is_allowed(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    value = nonce(gateway)
    gpu = kit.nvidia(value, gpus=("GPU-0", "GPU-1"))
    answer = ask(
        gateway,
        atlas,
        "evaluate",
        attestation=attested("azure-prod", kit.azure(value), gpu),
    )
    assert answer["allow"] is True, answer
    details = Event.objects.get(details__decision_id=answer["decision_id"]).details["attestation"]
    assert details["gpu"]["verifier"] == "nvidia-prod" and details["cpu"]["verifier"] == "azure-prod"


def test_a_charter_that_does_not_ask_leaves_other_actions_unattested(gateway, make_grant, atlas, demo_registry):
    """Only the actions whose terms ask for attestation need it: a grant without requires_attestation for them is
    still held to the charter's terms."""
    make_grant()
    answer = ask(gateway, atlas)
    assert codes(answer) == ["attestation_required"]


# --- Denied, each with its code ---------------------------------------------------------------------------------


def test_no_evidence_is_attestation_required_naming_the_verifiers(gateway, make_grant, atlas):
    make_grant(requires_attestation=True)
    answer = ask(gateway, atlas)
    assert codes(answer) == ["attestation_required"]
    assert "one of azure-prod, intel-prod, nitro-prod" in message(answer)
    assert "POST /api/v1/attestation/nonce" in message(answer)


def test_a_forged_signature_is_invalid_and_leaves_the_nonce_for_good_evidence(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    value = nonce(gateway)
    forged = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(value, key=OTHER_KEY)))
    assert codes(forged) == ["attestation_invalid"] and "signature does not verify" in message(forged)
    assert ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(value)))["allow"] is True


def test_an_unknown_issuer_is_invalid(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    token = kit.intel(nonce(gateway), iss="https://evil.example")
    answer = ask(gateway, atlas, attestation=attested("intel-prod", token))
    assert codes(answer) == ["attestation_invalid"] and "'https://evil.example'" in message(answer)


def test_a_nitro_document_whose_chain_is_broken_is_invalid(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    value = nonce(gateway)
    missing_intermediate = kit.nitro(value, cabundle=[kit.nitro_chain.root.der])
    answer = ask(gateway, atlas, attestation=attested("nitro-prod", missing_intermediate))
    assert codes(answer) == ["attestation_invalid"]
    other_root = kit.nitro(value, chain=nitro_chain())
    assert codes(ask(gateway, atlas, attestation=attested("nitro-prod", other_root))) == ["attestation_invalid"]


def test_an_expired_token_is_expired(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    now = int(timezone.now().timestamp())
    token = kit.azure(nonce(gateway), iat=now - 3600, nbf=now - 3600, exp=now - 1800)
    answer = ask(gateway, atlas, attestation=attested("azure-prod", token))
    assert codes(answer) == ["attestation_expired"] and "expired" in message(answer)


def test_evidence_replayed_or_with_an_unknown_nonce_is_replayed(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    token = kit.azure(nonce(gateway))
    assert ask(gateway, atlas, attestation=attested("azure-prod", token))["allow"] is True
    again = ask(gateway, atlas, attestation=attested("azure-prod", token))
    assert codes(again) == ["attestation_replayed"] and "already used" in message(again)
    unknown = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure("f" * 64)))
    assert codes(unknown) == ["attestation_replayed"] and "unknown" in message(unknown)


def test_another_principals_nonce_is_replayed(api_as, b_principal, gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    theirs = nonce(api_as(b_principal))
    answer = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(theirs)))
    assert codes(answer) == ["attestation_replayed"]


def test_one_nonce_in_a_batch_allows_once(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    item = {
        "action": "infer",
        "asset": atlas,
        "purpose": "safety-evaluation",
        "context": {"attestation": attested("azure-prod", kit.azure(nonce(gateway)))},
    }
    response = gateway.client.post("/api/v1/decisions/batch", {"requests": [item, item]}, format="json")
    first, second = response.json()["results"]
    assert first["allow"] is True and codes(second) == ["attestation_replayed"]


@pytest.mark.parametrize(
    ("verifier", "override", "phrase"),
    [
        ("azure-prod", {"x-ms-sevsnpvm-is-debuggable": True}, "x-ms-sevsnpvm-is-debuggable must equal false"),
        ("intel-prod", {"attester_tcb_status": "OutOfDate"}, "attester_tcb_status must equal 'UpToDate'"),
        ("intel-prod", {"tdx_is_debuggable": True}, "tdx_is_debuggable must equal false"),
    ],
)
def test_each_unmet_claim_is_named(gateway, make_grant, atlas, kit, verifier, override, phrase):
    make_grant(requires_attestation=True)
    token = {"azure-prod": kit.azure, "intel-prod": kit.intel}[verifier](nonce(gateway), **override)
    answer = ask(gateway, atlas, attestation=attested(verifier, token))
    assert codes(answer) == ["attestation_claims_unmet"]
    assert phrase in message(answer) and "charter's claims policy" in message(answer)


def test_a_measurement_not_on_the_allow_list_is_unmet(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    token = kit.azure(nonce(gateway), **{"x-ms-sevsnpvm-launchmeasurement": "ab" * 48})
    answer = ask(gateway, atlas, attestation=attested("azure-prod", token))
    assert codes(answer) == ["attestation_claims_unmet"]
    assert "is not on the allow-list atlas-serving" in message(answer) and "abababab" in message(answer)


def test_a_nitro_pcr_off_the_list_is_unmet(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    document = kit.nitro(nonce(gateway), pcrs={0: "11" * 48, 1: kit.pcrs[1], 2: kit.pcrs[2]})
    answer = ask(gateway, atlas, attestation=attested("nitro-prod", document))
    assert codes(answer) == ["attestation_claims_unmet"] and "nitro" in message(answer)


def test_a_removed_measurement_is_refused_at_once(gateway, make_grant, atlas, kit, officer, serving):
    make_grant(requires_attestation=True)
    assert ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(nonce(gateway))))["allow"] is True
    entry = Measurement.objects.get(allow_list=serving, platform="snp")
    measurement_remove(officer=officer, entry=entry, reason="The image has a known flaw.")
    answer = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(nonce(gateway))))
    assert codes(answer) == ["attestation_measurement_removed"]
    said = message(answer)
    assert "was removed from the allow-list atlas-serving" in said and "reported as misuse" in said


def test_evidence_from_a_verifier_the_action_does_not_accept_is_invalid(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    answer = ask(gateway, atlas, attestation=attested("nvidia-prod", kit.nvidia(nonce(gateway))))
    assert codes(answer) == ["attestation_invalid"] and "does not accept" in message(answer)


def test_gpu_evidence_missing_or_failing_is_denied(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    value = nonce(gateway)
    missing = ask(gateway, atlas, "evaluate", attestation=attested("azure-prod", kit.azure(value)))
    assert codes(missing) == ["attestation_required"] and "context.attestation.gpu" in message(missing)
    failing = kit.nvidia(value, gpus=("GPU-0", "GPU-1"), claims_by_gpu={"GPU-1": {"measres": "fail"}})
    answer = ask(
        gateway,
        atlas,
        "evaluate",
        attestation=attested("azure-prod", kit.azure(value), failing),
    )
    assert codes(answer) == ["attestation_claims_unmet"]
    assert "GPU-1" in message(answer) and "measres must equal 'success'" in message(answer)


def test_evidence_of_the_wrong_shape_is_invalid_saying_what_to_send(gateway, make_grant, atlas):
    make_grant(requires_attestation=True)
    for given, phrase in [
        ("a token", "is not an object"),
        ({"evidence": "x"}, "verifier must name"),
        ({"verifier": "azure-prod"}, "evidence is missing"),
        ({"verifier": "nobody", "evidence": "x"}, "No verifier is named 'nobody'"),
    ]:
        answer = ask(gateway, atlas, attestation=given)
        assert codes(answer) == ["attestation_invalid"], given
        assert phrase in message(answer)


def test_a_grants_own_policy_tightens_the_charter(gateway, make_grant, atlas, kit):
    tighter = {"allOf": [{"claim": "x-ms-sevsnpvm-bootloader-svn", "greaterOrEquals": 99}]}
    make_grant(requires_attestation=True, attestation_policy=tighter)
    answer = ask(gateway, atlas, attestation=attested("azure-prod", kit.azure(nonce(gateway))))
    assert codes(answer) == ["attestation_claims_unmet"] and "grant's claims policy" in message(answer)
    token = kit.azure(nonce(gateway), **{"x-ms-sevsnpvm-bootloader-svn": 99})
    assert ask(gateway, atlas, attestation=attested("azure-prod", token))["allow"] is True


def test_a_grant_policy_that_is_not_well_formed_is_refused(make_grant):
    with pytest.raises(ValidationError) as refused:
        make_grant(requires_attestation=True, attestation_policy={"allOf": [{"claim": "x", "bigger": 1}]})
    assert "'bigger' is not an operator" in str(refused.value)


def test_a_nonce_store_that_refuses_is_a_deny_never_an_allow(gateway, make_grant, atlas, kit, settings):
    make_grant(requires_attestation=True)
    token = kit.azure(nonce(gateway))
    with loopback_peer() as peer:
        peer.refuse()
        settings.REDIS_URL = f"redis://127.0.0.1:{peer.port}/0"
        answer = ask(gateway, atlas, attestation=attested("azure-prod", token))
    assert answer["allow"] is False and codes(answer) == ["dependency_unavailable"]


# --- Attested sessions --------------------------------------------------------------------------------------


def open_session(caller, asset, evidence: dict[str, Any], action="infer"):
    return caller.client.post(
        "/api/v1/sessions",
        {"asset": asset, "action": action, "purpose": "safety-evaluation", "context": {"attestation": evidence}},
        format="json",
    )


def test_an_attested_session_stands_for_fresh_evidence_for_the_charters_lifetime(gateway, make_grant, atlas, kit):
    grant = make_grant(requires_attestation=True)
    opened = open_session(gateway, atlas, attested("nitro-prod", kit.nitro(nonce(gateway))))
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert body["attested"] is True
    session = DecisionSession.objects.get(grant=grant)
    assert session.verifier == "nitro-prod" and session.measurement["platform"] == "nitro"
    assert session.enclave_key["kty"] == "RSA" and session.measurement_entry.allow_list.name == "atlas-serving"
    assert timedelta(minutes=29) < session.expires_at - session.created_at <= timedelta(minutes=30)
    for _ in range(3):
        assert ask(gateway, atlas, session=body["session"])["allow"] is True
    recorded = Event.objects.filter(action="decision.allow").last()
    assert recorded.details["attestation"] == {"session": session.pk}
    with time_machine.travel(session.expires_at + timedelta(seconds=1)):
        late = ask(gateway, atlas, session=body["session"])
    assert codes(late) == ["attestation_required"] and "not a live attested session" in message(late)


def test_removing_the_measurement_ends_its_sessions_at_once(gateway, make_grant, atlas, kit, officer, serving):
    make_grant(requires_attestation=True)
    token = open_session(gateway, atlas, attested("azure-prod", kit.azure(nonce(gateway)))).json()["session"]
    assert ask(gateway, atlas, session=token)["allow"] is True
    measurement_remove(
        officer=officer, entry=Measurement.objects.get(allow_list=serving, platform="snp"), reason="Flawed image."
    )
    answer = ask(gateway, atlas, session=token)
    assert codes(answer) == ["attestation_measurement_removed"] and "measurement was removed" in message(answer)
    ended = DecisionSession.objects.get()
    assert ended.ended_at is not None and ended.end_reason == "measurement_removed"


def test_a_session_for_another_action_or_without_attestation_stands_for_nothing(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True, requires_session=True)
    token = open_session(gateway, atlas, attested("azure-prod", kit.azure(nonce(gateway)))).json()["session"]
    assert codes(ask(gateway, atlas, "evaluate", session=token)) == ["attestation_required"]


def test_a_session_is_refused_with_the_attestations_reason(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    token = kit.azure(nonce(gateway), **{"x-ms-sevsnpvm-is-debuggable": True})
    refused = open_session(gateway, atlas, attested("azure-prod", token))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "attestation_claims_unmet" and "x-ms-sevsnpvm-is-debuggable" in error["message"]
    assert not DecisionSession.objects.exists()


def test_a_session_replaying_a_spent_nonce_is_refused(gateway, make_grant, atlas, kit):
    make_grant(requires_attestation=True)
    evidence = attested("azure-prod", kit.azure(nonce(gateway)))
    assert open_session(gateway, atlas, evidence).status_code == 201
    again = open_session(gateway, atlas, evidence)
    assert again.status_code == 403 and again.json()["error"]["code"] == "attestation_replayed"


# --- The charter's terms, checked when saved --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "path", "phrase"),
    [
        ({**INFER_TERMS, "verifiers": ["azure-test"]}, "attestation.verifiers[0]", "no verifier is named 'azure-test'"),
        ({**INFER_TERMS, "measurements": ["nowhere"]}, "attestation.measurements[0]", "no measurement allow-list"),
        ({**INFER_TERMS, "claims": {"allOf": []}}, "attestation.claims", "is empty"),
        ({"verifiers": ["azure-prod"]}, "attestation", "accept any enclave"),
        (
            {**EVALUATE_TERMS, "gpu": {"verifiers": ["azure-prod"]}},
            "attestation.gpu.verifiers[0]",
            "GPU evidence comes from an nvidia one",
        ),
        (
            {"verifiers": ["nvidia-prod"], "measurements": ["atlas-serving"]},
            "attestation.verifiers",
            "NVIDIA evidence carries no measurement",
        ),
    ],
)
def test_attestation_terms_are_checked_when_the_charter_is_saved(
    attestation_kit, serving, charter_text, officer, terms, path, phrase
):
    text = charter_text(lambda document: with_terms(document, infer=terms))
    with pytest.raises(CharterDocumentError) as refused:
        charter_apply(text=text, by=actor_for(officer))
    problems = [problem for problem in refused.value.problems if problem.path.endswith(path)]
    assert problems and phrase in problems[0].message and problems[0].line, refused.value.problems


def test_attestation_terms_of_the_wrong_shape_are_refused_by_the_schema(attestation_kit, charter_text, officer):
    text = charter_text(lambda document: with_terms(document, infer={"verifiers": [], "lifetime": 5}))
    with pytest.raises(CharterDocumentError) as refused:
        charter_apply(text=text, by=actor_for(officer))
    assert any("attestation" in problem.path for problem in refused.value.problems)


def test_a_partner_admin_requests_a_tighter_policy_through_the_api(
    api_as, a_admin, a_principal, live_charter, atlas, charter_window
):
    request = {
        "principal": "northwind-gateway",
        "asset": atlas,
        "actions": ["infer"],
        "purposes": ["safety-evaluation"],
        "valid_from": charter_window.valid_from.isoformat(),
        "valid_until": charter_window.valid_until.isoformat(),
        "daily_quota": 10,
        "monthly_quota": 100,
        "rate_per_minute": 5,
        "requires_attestation": True,
        "justification": "Attested evaluation runs.",
    }
    admin = api_as(a_admin)
    bad = admin.client.post("/api/v1/grants/request", {**request, "attestation_policy": {"anyOf": "x"}}, format="json")
    assert bad.status_code == 400 and "must be a list" in bad.content.decode()
    tighter = {"allOf": [{"claim": "x-ms-sevsnpvm-bootloader-svn", "greaterOrEquals": 4}]}
    good = admin.client.post("/api/v1/grants/request", {**request, "attestation_policy": tighter}, format="json")
    assert good.status_code == 201, good.content
    assert good.json()["attestation_policy"] == tighter


ODD_EVIDENCE = [
    1,
    True,
    [],
    {},
    [1, 2],
    {"a": 1},
    "x",
    "x.y.z",
    "%%%",
    [["JWT", 5], {}],
    [["JWT", "a.b.c"], []],
    "0" * 5000,
]


@pytest.mark.parametrize("verifier", ["azure-prod", "intel-prod", "nvidia-prod", "nitro-prod"])
def test_odd_evidence_of_any_kind_is_invalid_never_an_error(gateway, make_grant, atlas, verifier):
    make_grant(requires_attestation=True)
    for evidence in ODD_EVIDENCE:
        answer = ask(gateway, atlas, attestation={"verifier": verifier, "evidence": evidence})
        assert answer["allow"] is False, evidence
        assert codes(answer)[0] in ("attestation_invalid", "attestation_replayed", "attestation_expired"), evidence


def test_a_broken_verifiers_file_refuses_evidence_and_says_to_tell_the_operator(
    gateway, make_grant, atlas, kit, settings, tmp_path
):
    make_grant(requires_attestation=True)
    token = kit.azure(nonce(gateway))
    broken = tmp_path / "broken.yaml"
    broken.write_text("- {name: azure-prod, kind: azure}\n")
    settings.ACCORD_ATTESTATION_VERIFIERS_FILE = broken
    answer = ask(gateway, atlas, attestation=attested("azure-prod", token))
    assert codes(answer) == ["attestation_invalid"] and "tell its operator" in message(answer)
    opened = open_session(gateway, atlas, attested("azure-prod", token))
    assert opened.status_code == 403 and "tell its operator" in opened.json()["error"]["message"]
