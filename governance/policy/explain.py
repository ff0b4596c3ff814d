"""Why a recorded decision came out as it did: the request, the bundle it named, the lines that matched it (or why
none did) and the guardrail that decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from accord.validation import is_whole_number
from governance.decisions.records import RecordedDecision, decision_by_id
from governance.decisions.services import MESSAGES
from governance.models import Grant, PolicyBundle
from governance.policy.bundle import principal_subject
from governance.policy.index import WILDCARD, PolicyIndex
from governance.policy.selectors import bundle_lines


@dataclass
class Explanation:
    decision: RecordedDecision
    bundle: PolicyBundle | None
    grant: Grant | None = None  # the grant that allowed, or whose guardrail denied
    subjects: dict[str, list[str]] = field(default_factory=dict)  # charter -> the principal and its roles there
    allow_lines: list[tuple[str, ...]] = field(default_factory=list)
    deny_lines: list[tuple[str, ...]] = field(default_factory=list)
    near_lines: list[tuple[str, ...]] = field(default_factory=list)  # same subject and asset, other use
    verdict: str = ""
    guardrail: str = ""

    @property
    def allow(self) -> bool:
        return self.decision.allow


def bundle_in_force(bundle_hash: str, at: datetime) -> PolicyBundle | None:
    """The recorded bundle with this hash that was in force at ``at``. Several changes can leave the same bundle (a
    grant suspended and resumed brings back the lines of before): the one that counts is the last of them made
    before the moment, not the newest. A bundle made a moment after it (the clocks of two processes) is the next
    best answer."""
    same = PolicyBundle.objects.filter(hash=bundle_hash)
    return same.filter(changed_at__lte=at).order_by("-seq").first() or same.order_by("seq").first()


def decision_explain(decision_id: str, *, grants: QuerySet[Grant]) -> Explanation | None:
    """The explanation of a recorded decision, or None when no decision has this id. ``grants`` are the ones the
    reader may see: the grant that decided is named only when it is one of them."""
    decision = decision_by_id(decision_id)
    if decision is None:
        return None
    explanation = Explanation(
        decision=decision,
        bundle=bundle_in_force(decision.bundle, decision.occurred_at),
        grant=grants.filter(pk=decision.grant_id).first() if decision.grant_id is not None else None,
    )
    if decision.codes:
        code = decision.codes[0]
        # The words the decision gave (its event's reason): a suspension's, say, tells who made it.
        said = decision.reason or MESSAGES.get(code, "see the decision contract")
        explanation.guardrail = f"{code}: {said}"
    if explanation.bundle is None:
        explanation.verdict = (
            "The bundle this decision names is not recorded (yet): bundles are recorded every few seconds, and a "
            "decision that failed before the policy was read names none."
        )
        return explanation
    lines = bundle_lines(explanation.bundle)
    asker = decision.principal
    principal = principal_subject(int(asker)) if is_whole_number(asker) else asker
    groupings = [line[1:] for line in lines if line[0] == "g"]
    roles = PolicyIndex((), groupings)  # the same role closure the decisions use
    explanation.subjects = {
        domain: sorted(roles.subjects(principal, domain)) for domain in sorted({line[2] for line in groupings})
    }
    for line in sorted(lines):
        if line[0] != "p":
            continue
        sub, domain, obj, act, purpose, effect = line[1:]
        if sub not in roles.subjects(principal, domain) or obj != decision.asset:
            continue
        if act == decision.action and purpose in (decision.purpose, WILDCARD):
            (explanation.allow_lines if effect == "allow" else explanation.deny_lines).append(line[1:])
        else:
            explanation.near_lines.append(line[1:])
    explanation.verdict = _verdict(explanation)
    return explanation


def _verdict(explanation: Explanation) -> str:
    if explanation.deny_lines:
        return "A deny line matches (a suspended or held grant, or a suspended charter): deny overrides any allow."
    if explanation.allow_lines and explanation.allow:
        return "An allow line matches, and every guardrail passed."
    if explanation.allow_lines:
        return "An allow line matches, but a guardrail decided: see below."
    if explanation.near_lines:
        return "No line matches this action and purpose; the lines below cover other uses of this asset."
    return "No line of this bundle names this principal (or its roles) and this asset: no grant allows it."
