"""What a charter asks of an enclave before one of its actions may be used, and whether presented evidence meets it.

A charter's permitted action may carry ``attestation``: the verifiers whose evidence is accepted, a claims policy
(governance.attestation.claims), the measurement allow-lists the evidence's measurement must be on (officers keep
them apart from charters: governance.attestation.measurements), GPU evidence asked beside the CPU TEE's, and how long
an attested session lasts. A grant may add a claims policy of its own, which the evidence must meet as well: a
grant can only tighten its charter.

The decision point checks the request's ``context.attestation`` once per request (``presented``: the signature,
chain, issuer and times, before any grant is looked at and outside the snapshot's lock), then for each grant that
needs attestation asks ``refusal`` whether that evidence meets the grant's requirement. The nonce is spent only for
the grant that allows, by the decision point.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from governance.attestation import claims as claims_policy
from governance.attestation import verifiers as configured
from governance.attestation.evidence import AttestationError, AttestationInvalidError, Measured, Verified
from governance.models import Measurement, MeasurementList

logger = logging.getLogger(__name__)

REQUIRED = "attestation_required"
INVALID = "attestation_invalid"
CLAIMS_UNMET = "attestation_claims_unmet"
MEASUREMENT_REMOVED = "attestation_measurement_removed"
# Why a session attested on a measurement ended when the measurement left its allow-list (sessions.ENDINGS).
MEASUREMENT_REMOVED_REASON = "measurement_removed"
CODES = (REQUIRED, INVALID, "attestation_expired", "attestation_replayed", CLAIMS_UNMET, MEASUREMENT_REMOVED)

DEFAULT_SESSION_MINUTES = 60


@dataclass(frozen=True)
class GpuRequirement:
    verifiers: tuple[str, ...]
    claims: Mapping[str, Any] | None


@dataclass(frozen=True)
class Requirement:
    """One permitted action's ``attestation`` terms, read from a charter version's document."""

    verifiers: tuple[str, ...]
    claims: Mapping[str, Any] | None = None
    measurements: tuple[str, ...] = ()
    gpu: GpuRequirement | None = None
    session_minutes: int = DEFAULT_SESSION_MINUTES

    @classmethod
    def of(cls, terms: Mapping[str, Any]) -> Requirement:
        gpu = terms.get("gpu")
        return cls(
            verifiers=tuple(terms["verifiers"]),
            claims=terms.get("claims"),
            measurements=tuple(terms.get("measurements", ())),
            gpu=GpuRequirement(tuple(gpu["verifiers"]), gpu.get("claims")) if gpu else None,
            session_minutes=int(terms.get("session_minutes", DEFAULT_SESSION_MINUTES)),
        )


@functools.lru_cache(maxsize=1024)
def grant_policy(text: str) -> Mapping[str, Any] | None:
    """A grant's own claims policy, as the snapshot keeps it (JSON text; "" when it has none)."""
    return json.loads(text) if text else None


# --- Checking a charter's terms when it is saved --------------------------------------------------------------


def requirement_problems(terms: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Every problem with one action's ``attestation`` terms (schema-valid already), each as (the path below
    ``attestation``, what to do): a claims policy that is not well formed, a verifier that is not configured or is
    of the wrong kind, an allow-list that does not exist, and terms that would accept any enclave at all."""
    gpu = terms.get("gpu") or {}
    problems: list[tuple[tuple[str, ...], str]] = []
    for path, policy in (("claims",), terms.get("claims")), (("gpu", "claims"), gpu.get("claims")):
        if policy is not None:
            problems += [(path, problem) for problem in claims_policy.policy_problems(policy)]
    problems += _verifier_problems(terms["verifiers"], gpu.get("verifiers", []), bool(terms.get("measurements")))
    measurements = terms.get("measurements", [])
    existing = set(MeasurementList.objects.filter(name__in=measurements).values_list("name", flat=True))
    for index, name in enumerate(measurements):
        if name not in existing:
            message = f"there is no measurement allow-list {name!r}. An officer creates it under Measurements first."
            problems.append((("measurements", str(index)), message))
    if terms.get("claims") is None and not measurements:
        message = (
            "these terms accept any enclave the verifier vouches for, debug ones included: give a claims policy "
            "(debug disabled, at least) or measurements."
        )
        problems.append(((), message))
    return problems


def _verifier_problems(cpu: list[str], gpu: list[str], measured: bool) -> list[tuple[tuple[str, ...], str]]:
    """The verifiers named must be configured; GPU evidence comes from NVIDIA's; NVIDIA's carries no measurement."""
    try:
        known = configured.verifiers()
    except ImproperlyConfigured as error:
        return [(("verifiers",), f"the verifiers cannot be read, so none can be named: {error}")]
    listed = ", ".join(sorted(known)) or "none: set ACCORD_ATTESTATION_VERIFIERS_FILE"
    problems: list[tuple[tuple[str, ...], str]] = []
    for where, names in (("verifiers",), cpu), (("gpu", "verifiers"), gpu):
        for index, name in enumerate(names):
            if name not in known:
                problems.append(((*where, str(index)), f"no verifier is named {name!r} (configured: {listed})."))
            elif where == ("gpu", "verifiers") and known[name].kind != "nvidia":
                message = f"{name} is a {known[name].kind} verifier; GPU evidence comes from an nvidia one."
                problems.append(((*where, str(index)), message))
    if measured and any(name in known and known[name].kind == "nvidia" for name in cpu):
        message = (
            "NVIDIA evidence carries no measurement to look up on an allow-list: name CPU TEE verifiers here and "
            "ask for the GPU's evidence under gpu, or drop measurements."
        )
        problems.append((("verifiers",), message))
    return problems


# --- The evidence a request carries ---------------------------------------------------------------------------


@dataclass
class Presented:
    """``context.attestation`` of one request, checked once: the CPU TEE's evidence (or the GPU's alone) and
    optionally ``gpu``, each Verified or the AttestationError it raised. ``problem`` says what is wrong with the
    shape. The matches of its measurement are looked up once per set of allow-lists."""

    cpu: Verified | AttestationError | None = None
    gpu: Verified | AttestationError | None = None
    problem: str | None = None
    _entries: dict[tuple[str, ...], Measurement | None] = field(default_factory=dict)

    def entry_on(self, names: tuple[str, ...]) -> Measurement | None:
        """The allow-list entry (of the lists ``names``, not removed) that the CPU evidence's measurement matches."""
        if names not in self._entries:
            measured = self.cpu.measurement if isinstance(self.cpu, Verified) else None
            self._entries[names] = entry_matching(names, measured) if measured is not None else None
        return self._entries[names]

    @property
    def nonces(self) -> list[str]:
        """The nonces to spend when this evidence allows: each once (a gateway may put one nonce in both)."""
        spent = [verified.nonce for verified in (self.cpu, self.gpu) if isinstance(verified, Verified)]
        return list(dict.fromkeys(spent))


SHAPE = 'context.attestation is {"verifier": <name>, "evidence": <token or document>, "gpu": {"verifier", "evidence"}}'


def presented(context: Mapping[str, Any], now: datetime) -> Presented | None:
    """The request's evidence, verified (signature, chain, issuer, times; the nonce is not spent), or None when the
    request carries none."""
    given = context.get("attestation")
    if given is None:
        return None
    if not isinstance(given, Mapping):
        return Presented(problem=f"{SHAPE}; it is not an object.")
    cpu, problem = _checked(given, "context.attestation", now)
    if problem:
        return Presented(problem=problem)
    gpu: Verified | AttestationError | None = None
    if given.get("gpu") is not None:
        if not isinstance(given["gpu"], Mapping):
            return Presented(problem='context.attestation.gpu is {"verifier": <name>, "evidence": <NRAS answer>}.')
        gpu, problem = _checked(given["gpu"], "context.attestation.gpu", now)
        if problem:
            return Presented(problem=problem)
    return Presented(cpu=cpu, gpu=gpu)


def _checked(given: Mapping[str, Any], where: str, now: datetime) -> tuple[Verified | AttestationError | None, str]:
    verifier, evidence = given.get("verifier"), given.get("evidence")
    if not isinstance(verifier, str) or not verifier:
        return None, f"{where}.verifier must name the verifier that vouched (a string); {SHAPE}."
    if evidence is None or evidence == "":
        return None, f"{where}.evidence is missing: give the token or document the verifier {verifier} issued."
    try:
        return configured.evidence_check(verifier=verifier, evidence=evidence, now=now), ""
    except AttestationError as error:
        return error, ""
    except ImproperlyConfigured as error:
        # The operator's verifiers file is broken: no evidence can be checked, so none is accepted.
        logger.error("Attestation evidence refused: the verifiers cannot be read: %s", error)
        problem = (
            "This install's attestation verifiers cannot be read, so no evidence can be checked; tell its operator."
        )
        return AttestationInvalidError(problem), ""


def entry_matching(names: Iterable[str], measured: Measured) -> Measurement | None:
    """The oldest entry still listed on one of the lists ``names`` whose every value the measurement carries."""
    entries = Measurement.objects.filter(
        allow_list__name__in=list(names), platform=measured.platform, removed_at__isnull=True
    ).order_by("added_at", "pk")
    for entry in entries:
        if all(measured.values.get(name) == value for name, value in entry.values.items()):
            return entry
    return None


def removed_entry_matching(names: Iterable[str], measured: Measured) -> Measurement | None:
    """The latest entry removed from one of the lists ``names`` whose every value the measurement carries."""
    entries = (
        Measurement.objects.filter(
            allow_list__name__in=list(names), platform=measured.platform, removed_at__isnull=False
        )
        .select_related("allow_list")
        .order_by("-removed_at", "-pk")
    )
    for entry in entries:
        if all(measured.values.get(name) == value for name, value in entry.values.items()):
            return entry
    return None


# --- Does the evidence meet a grant's requirement? ------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def refusal(
    requirement: Requirement | None, extra_policy: Mapping[str, Any] | None, evidence: Presented | None, action: str
) -> Refusal | None:
    """Why ``evidence`` does not meet what the charter (``requirement``) and the grant (``extra_policy``) ask for
    ``action``, or None when it does. No requirement (a grant that asks for attestation under a charter that does
    not say how) refuses everything."""
    if requirement is None:
        return Refusal(
            REQUIRED,
            f"This grant requires attestation, but its charter does not say for {action} which verifiers and claims "
            "are accepted: it is denied until an officer amends the charter's terms.",
        )
    if evidence is None:
        return Refusal(
            REQUIRED,
            f"This grant needs an attested enclave for {action}: give context.attestation with evidence from "
            f"{_one_of(requirement.verifiers)} carrying a nonce from POST /api/v1/attestation/nonce, or an attested "
            "session.",
        )
    if evidence.problem:
        return Refusal(INVALID, evidence.problem)
    cpu = _accepted(evidence.cpu, requirement.verifiers, "The evidence")
    if isinstance(cpu, Refusal):
        return cpu
    for whose, policy in (("charter's", requirement.claims), ("grant's", extra_policy)):
        unmet = claims_policy.policy_unmet(policy, cpu.claims) if policy is not None else None
        if unmet:
            return Refusal(CLAIMS_UNMET, f"The attestation does not meet the {whose} claims policy: {unmet}.")
    if requirement.measurements:
        refused = _measurement_refusal(evidence, cpu.measurement, requirement.measurements)
        if refused:
            return refused
    if requirement.gpu is not None:
        return _gpu_refusal(evidence.gpu, requirement.gpu)
    return None


def _accepted(verified: Verified | AttestationError | None, accepted: tuple[str, ...], what: str) -> Verified | Refusal:
    """The verified evidence when it is from a verifier the action accepts; why not otherwise."""
    if isinstance(verified, AttestationError):
        return Refusal(verified.code, str(verified))
    if verified is None:
        return Refusal(REQUIRED, f"{what} is missing.")
    if verified.verifier.name not in accepted:
        return Refusal(
            INVALID,
            f"{what} is from verifier {verified.verifier.name}, which this action does not accept: it accepts "
            f"{_one_of(accepted)}.",
        )
    return verified


def _measurement_refusal(evidence: Presented, measured: Measured | None, names: tuple[str, ...]) -> Refusal | None:
    lists = ", ".join(names)
    if measured is None:
        return Refusal(
            CLAIMS_UNMET,
            f"The evidence carries no measurement (an SNP launch measurement, a TDX MRTD or Nitro PCRs), and this "
            f"action needs one on the allow-list {lists}.",
        )
    if evidence.entry_on(names) is None:
        shown = ", ".join(f"{name} {value[:16]}…" for name, value in sorted(measured.values.items()))
        removed = removed_entry_matching(names, measured)
        if removed is not None:
            return Refusal(
                MEASUREMENT_REMOVED,
                f"The enclave's measurement ({measured.platform}: {shown}) was removed from the allow-list "
                f"{removed.allow_list.name} on {removed.removed_at:%Y-%m-%d %H:%M} UTC: this image may no longer be "
                "used, and presenting it again is reported as misuse. Attest an image that is on the list.",
            )
        return Refusal(
            CLAIMS_UNMET,
            f"The enclave's measurement ({measured.platform}: {shown}) is not on the allow-list {lists}: an officer "
            "must add it before this enclave may be used.",
        )
    return None


def _gpu_refusal(given: Verified | AttestationError | None, requirement: GpuRequirement) -> Refusal | None:
    if given is None:
        return Refusal(
            REQUIRED,
            f"This action also needs the GPU's evidence: give context.attestation.gpu from "
            f"{_one_of(requirement.verifiers)}.",
        )
    gpu = _accepted(given, requirement.verifiers, "The GPU evidence")
    if isinstance(gpu, Refusal):
        return gpu
    if requirement.claims is None:
        return None
    for name, claims in sorted(gpu.gpus.items()):
        unmet = claims_policy.policy_unmet(requirement.claims, {**gpu.claims, **claims})
        if unmet:
            return Refusal(CLAIMS_UNMET, f"{name} does not meet the charter's GPU claims policy: {unmet}.")
    return None


def _one_of(names: Iterable[str]) -> str:
    listed = list(names)
    return listed[0] if len(listed) == 1 else "one of " + ", ".join(listed)
