"""Rolling the policy back to an earlier bundle, carried out as grant transitions.

A rollback writes no policy line. The grant rows stay the single source of truth: it suspends the grants that
became active since the bundle and resumes the ones suspended since, each through the ordinary audited
transition, all in one transaction. It never brings back a revoked, refused or expired grant (a revocation is
final; a new grant is requested and approved instead), never lifts or places an incident hold, and does not undo
charter or role changes (those go through their own review). It says which of these it could not restore, and
why, before the officer confirms and in the result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from accounts.models import Proposal, User
from accounts.operations import Operation, performs
from accounts.proposals import Done, Plan, ProposalKind
from audit.trail import Actor, record
from charters.models import Charter, CharterVersion, PolicyChange
from charters.services.charters import charter_policy_state
from governance.grants import services as grant_services
from governance.models import Grant, PartnerRole, PolicyBundle
from governance.policy.selectors import bundle_lines
from governance.policy.snapshot import KEPT_GRANT_STATES, Snapshot

Status = Grant.Status
_FINAL: dict[str, str] = {
    Status.REVOKED: "it was revoked, and a rollback never revives a revoked grant: request a new grant",
    Status.REFUSED: "it was refused: request a new grant",
    Status.EXPIRED: "its window has ended: request a new grant",
}


@dataclass(frozen=True)
class Step:
    """One grant transition the rollback makes."""

    grant_id: int
    grantee: str
    partner: str
    charter: str
    then: str  # the grant's status in the bundle ("absent" when the bundle did not hold it)
    now: str

    def as_json(self) -> dict[str, Any]:
        return {
            "grant": self.grant_id,
            "grantee": self.grantee,
            "partner": self.partner,
            "charter": self.charter,
            "then": self.then,
            "now": self.now,
        }


@dataclass(frozen=True)
class Part:
    """Some words of a reason, linked to the page of what they name when ``url`` is given."""

    text: str
    url: str = ""


@dataclass(frozen=True)
class Unrestored:
    """Something that differs from the bundle and that a rollback leaves as it is: ``what`` (linked to its page by
    ``what_url``) and why, in parts that may link the pages they name (a charter's versions)."""

    what: str
    parts: tuple[Part, ...]
    what_url: str = ""

    @classmethod
    def saying(cls, what: str, *parts: str | Part, what_url: str = "") -> Unrestored:
        return cls(what, tuple(part if isinstance(part, Part) else Part(part) for part in parts), what_url)

    @property
    def why(self) -> str:
        return "".join(part.text for part in self.parts)

    def as_json(self) -> dict[str, str]:
        return {"what": self.what, "why": self.why}


@dataclass
class RollbackPlan:
    bundle: PolicyBundle
    suspend: list[Step] = field(default_factory=list)
    resume: list[Step] = field(default_factory=list)
    unrestored: list[Unrestored] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """Names the transitions: an officer confirms the plan they saw, not whatever it has become since."""
        steps = [("suspend", step.grant_id) for step in self.suspend] + [("resume", s.grant_id) for s in self.resume]
        return hashlib.sha256(json.dumps([self.bundle.seq, sorted(steps)]).encode()).hexdigest()[:16]

    @property
    def changes_anything(self) -> bool:
        return bool(self.suspend or self.resume)

    def as_json(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle.hash,
            "seq": self.bundle.seq,
            "plan": self.digest,
            "suspend": [step.as_json() for step in self.suspend],
            "resume": [step.as_json() for step in self.resume],
            "unrestored": [item.as_json() for item in self.unrestored],
        }


@dataclass
class RollbackResult:
    plan: RollbackPlan
    policy_hash: str  # the policy's hash once the rollback committed
    # Whether the policy allows again exactly what the bundle allowed. The hash alone says less: a grant added
    # since and now suspended compiles to deny lines, which the bundle did not have.
    allows_restored: bool

    @property
    def restored_exactly(self) -> bool:
        return self.policy_hash == self.plan.bundle.hash

    def as_json(self) -> dict[str, Any]:
        return {
            **self.plan.as_json(),
            "policy_hash": self.policy_hash,
            "restored_exactly": self.restored_exactly,
            "allows_restored": self.allows_restored,
        }

    def summary(self) -> str:
        done = f"{len(self.plan.suspend)} grant(s) suspended, {len(self.plan.resume)} resumed."
        if self.restored_exactly:
            return f"{done} The policy is that bundle again."
        if self.allows_restored:
            return (
                f"{done} Exactly what the bundle allowed is allowed again; the grants added since stay in the "
                "policy as suspended (deny) lines."
            )
        return (
            f"{done} The policy still allows otherwise than the bundle: see the {len(self.plan.unrestored)} "
            "item(s) a rollback could not restore."
        )


def facts_at(bundle: PolicyBundle) -> dict[str, Any]:
    """The facts the bundle was compiled from: the nearest checkpoint at or before it, then the feed's states
    up to the change that made it."""
    checkpoint = PolicyBundle.objects.filter(checkpoint__isnull=False, seq__lte=bundle.seq).order_by("-seq").first()
    if checkpoint is None or checkpoint.checkpoint is None:
        raise ValidationError({"bundle": "This bundle has no checkpoint before it, so its facts cannot be rebuilt."})
    facts: dict[str, Any] = checkpoint.checkpoint
    changes = PolicyChange.objects.filter(seq__gt=checkpoint.seq, seq__lte=bundle.seq).order_by("seq")
    for seq, kind, object_id, state in changes.values_list("seq", "kind", "object_id", "state"):
        if not state:
            raise ValidationError({"bundle": f"Policy change {seq} carries no state, so this bundle's facts are lost."})
        key = str(object_id)
        if kind == PolicyChange.Kind.GRANT:
            if state["status"] in KEPT_GRANT_STATES:
                facts["grants"][key] = state
            else:
                facts["grants"].pop(key, None)
        elif kind == PolicyChange.Kind.CHARTER:
            facts["charters"][key] = state
        elif kind == PolicyChange.Kind.ROLE:
            facts["members"][key] = state["members"]
        # A ``sessions`` change ends sessions: no fact a bundle is compiled from.
    return facts


def _step(grant: Grant, then: str) -> Step:
    return Step(grant.pk, grant.grantee, grant.partner.slug, grant.charter.slug, then, grant.status)


def rollback_plan(bundle: PolicyBundle) -> RollbackPlan:
    """What rolling back to ``bundle`` would do, and what it would leave as it is."""
    facts = facts_at(bundle)
    then = {int(pk): state for pk, state in facts["grants"].items()}
    plan = RollbackPlan(bundle)
    related = ("principal", "partner_role__partner", "partner", "charter")
    live = Grant.objects.select_related(*related).filter(status__in=Grant.LIVE)
    for grant in live.order_by("pk"):
        was = then.get(grant.pk)
        status_then = was["status"] if was else "absent"
        if grant.status == Status.ACTIVE and status_then != Status.ACTIVE:
            plan.suspend.append(_step(grant, status_then))
        elif grant.status == Status.SUSPENDED and status_then == Status.ACTIVE:
            plan.resume.append(_step(grant, status_then))
        if was and bool(was["held"]) != (grant.held_at is not None):
            why = (
                "an incident holds it now; release it through the incident"
                if grant.held_at is not None
                else "an incident held it then; a rollback places no incident hold"
            )
            plan.unrestored.append(
                Unrestored.saying(f"grant #{grant.pk} ({grant.grantee}) hold", why, what_url=_grant_url(grant.pk))
            )
    # Grants that ended since: only their ids and status are read, as there may be years of them.
    ended = Grant.objects.filter(status__in=list(_FINAL)).values_list("pk", "status")
    lost = {pk: status for pk, status in ended.iterator() if then.get(pk, {}).get("status") in Grant.LIVE}
    for grant in Grant.objects.select_related(*related).filter(pk__in=list(lost)).order_by("pk"):
        what = f"grant #{grant.pk} ({grant.grantee})"
        plan.unrestored.append(Unrestored.saying(what, _FINAL[grant.status], what_url=_grant_url(grant.pk)))
    plan.unrestored += _charters_unrestored(facts) + _roles_unrestored(facts)
    return plan


def _grant_url(pk: int) -> str:
    return f"{reverse('grant-list')}?grant={pk}"


def _charters_unrestored(facts: dict[str, Any]) -> list[Unrestored]:
    changed = []
    for charter in Charter.objects.select_related("active_version").order_by("slug"):
        was = facts["charters"].get(str(charter.pk))
        now = charter_policy_state(charter)
        if was is not None and {key: was[key] for key in now} != now:
            changed.append((charter, was, now))
    # The versions they name, then and now, by number: one query for them all.
    ids = {state["active_version"] for _, was, now in changed for state in (was, now)}
    numbers = dict(CharterVersion.objects.filter(pk__in=ids - {None}).values_list("pk", "number"))
    return [
        Unrestored.saying(
            f"charter {charter.slug}",
            "it is ",
            *_charter_words(charter.slug, now, numbers),
            " now and was ",
            *_charter_words(charter.slug, was, numbers),
            " then; a rollback changes grants only: amend, suspend or resume the charter through its own review",
            what_url=reverse("charters:charter-detail", kwargs={"slug": charter.slug}),
        )
        for charter, was, now in changed
    ]


def _charter_words(slug: str, state: dict[str, Any], numbers: dict[int, int]) -> list[str | Part]:
    """ "active on northwind-evaluation v2 (accepted)", the version linked to its page."""
    accepted = "accepted" if state["accepted_version"] == state["active_version"] else "not yet accepted"
    number = numbers.get(state["active_version"])
    if number is None:
        return [f"{state['status']} with no active version ({accepted})"]
    url = reverse("charters:version-detail", kwargs={"slug": slug, "number": number})
    return [f"{state['status']} on ", Part(f"{slug} v{number}", url), f" ({accepted})"]


def _roles_unrestored(facts: dict[str, Any]) -> list[Unrestored]:
    links = PartnerRole.members.through.objects.values_list("partnerrole_id", "user__username", "user_id")
    members: dict[int, dict[int, str]] = {}
    for role_id, username, user_id in links:
        members.setdefault(role_id, {})[user_id] = username
    changed = []
    for role in PartnerRole.objects.select_related("partner").order_by("partner__slug", "slug"):
        was = {int(pk) for pk in facts["members"].get(str(role.pk), [])}
        now = members.get(role.pk, {})
        if was != set(now):
            changed.append((role, was, now))
    # Members removed since are no longer in the role: their names, in one query for every role.
    gone = {pk for _, was, now in changed for pk in was - set(now)}
    names = dict(User.objects.filter(pk__in=gone).values_list("pk", "username")) if gone else {}
    found = []
    for role, was, now in changed:
        added = sorted(now[user] for user in set(now) - was)
        removed = sorted(names.get(pk, "a principal since deleted") for pk in was - set(now))
        change = "; ".join(
            part
            for part in (
                f"members added since: {', '.join(added)}" if added else "",
                f"members removed since: {', '.join(removed)}" if removed else "",
            )
            if part
        )
        found.append(Unrestored.saying(f"role {role}", f"{change}; the partner's admin changes role members"))
    return found


@performs(Operation.POLICY_ROLLBACK)
def bundle_rollback(*, bundle: PolicyBundle, by: Actor, reason: str, expected_plan: str = "") -> RollbackResult:
    """Roll back to ``bundle``: every transition of the plan, or none of them.

    ``expected_plan`` is the digest of the plan the officer confirmed; when the plan has changed since (another
    officer acted, a grant was approved), nothing is done and the officer reviews the new plan.
    """
    if not reason.strip():
        raise ValidationError({"reason": "Say why the policy is rolled back: it goes into the trail and to partners."})
    with transaction.atomic():
        plan = rollback_plan(bundle)
        if expected_plan and expected_plan != plan.digest:
            raise ValidationError(
                {"plan": "The policy changed since this rollback was planned. Review the new plan and confirm it."}
            )
        if not plan.changes_anything:
            raise ValidationError(
                {"bundle": "No grant differs from this bundle in a way a rollback can change; see what it cannot."}
            )
        because = f"Rollback to bundle {bundle.hash[:12]} (change {bundle.seq}): {reason.strip()}"
        grants = Grant.objects.select_related("partner", "charter", "asset_version__asset", "principal")
        for step in plan.suspend:
            grant_services.grant_suspend(grant=grants.get(pk=step.grant_id), by=by, reason=because)
        for step in plan.resume:
            grant_services.grant_resume(grant=grants.get(pk=step.grant_id), by=by, reason=because)
        record(
            action="policy.rolled_back",
            actor=by,
            target=bundle,
            reason=reason.strip(),
            details={
                "bundle": bundle.hash,
                "seq": bundle.seq,
                "suspended": [step.grant_id for step in plan.suspend],
                "resumed": [step.grant_id for step in plan.resume],
                "unrestored": [item.as_json() for item in plan.unrestored],
            },
        )
        policy = Snapshot.load().bundle()
    allows = {("p", *line) for line in policy.policies if line[-1] == "allow"}
    allowed_then = {line for line in bundle_lines(bundle) if line[0] == "p" and line[-1] == "allow"}
    return RollbackResult(plan, policy.hash, allows_restored=allows == allowed_then)


# A rollback takes two officers (accounts.proposals): the plan shown when proposing is the plan carried out, or
# nothing is done.
def _rollback_proposal_plan(target: str, proposer: User) -> Plan:
    bundle = PolicyBundle.objects.filter(hash=target).first()
    if bundle is None:
        raise ValidationError({"target": f"There is no bundle {target!r}: name it by its full hash."})
    plan = rollback_plan(bundle)
    if not plan.changes_anything:
        raise ValidationError(
            {"target": "No grant differs from this bundle in a way a rollback can change; see what it cannot."}
        )
    lines = [f"Suspend {_step_words(step)}" for step in plan.suspend]
    lines += [f"Resume {_step_words(step)}" for step in plan.resume]
    lines += [f"Not restored: {item.what}: {item.why}." for item in plan.unrestored]
    label = f"bundle {bundle.hash[:12]} (change {bundle.seq})"
    return Plan(target_label=label, partner="", lines=lines, check=plan.digest)


def _step_words(step: Step) -> str:
    then = "not yet approved" if step.then == "absent" else step.then
    return f"grant #{step.grant_id} ({step.grantee}, charter {step.charter}): {then} in the bundle, {step.now} now."


def _rollback_proposal_carry_out(proposal: Proposal, by: Actor) -> Done:
    bundle = PolicyBundle.objects.get(hash=proposal.target)
    result = bundle_rollback(bundle=bundle, by=by, reason=proposal.reason, expected_plan=proposal.plan_check)
    return Done(f"Rolled back: {result.summary()}", reverse("bundle-detail", kwargs={"ref": bundle.seq}))


POLICY_ROLLBACK_PROPOSAL = ProposalKind(
    kind=Proposal.Kind.POLICY_ROLLBACK,
    operation=Operation.POLICY_ROLLBACK,
    plan=_rollback_proposal_plan,
    carry_out=_rollback_proposal_carry_out,
    target_hint="the bundle's full hash",
)
