"""Anomaly checks, run by a worker every minute: each active grant's recent use against its charter's misuse rules.

The use is read from the usage roll-up (governance/usage), which counts the trail's decisions per minute by grant,
principal, asset, action and deny code. A run asks first, in one grouped query per charter and rule, which grants
could break each rule (those used enough in its window, those whose askers were denied there), and counts exactly
only for them: its cost grows with the grants in use, however many exist and however many events the trail holds.
A new client address is read from the trail itself, through its indexes on the time and on the grant. Each run
first seals what has committed and counts it, so it sees the use up to the moment it starts.

A rule that is broken yields one finding per grant, rule and window (a unique key), and in the same transaction
the grant is suspended (deny-override: every process denies it at its next decision) and
the officers are mailed through the outbox, and the finding opens an incident run by the charter's playbook (or
joins the charter's open one). A second run in the same window finds the finding already there and
does nothing again.

A suspension these checks made says so: the trail names the checks as its actor, and an officer (or the closing of
its incident) can resume it.

The rules, as the charter's `misuse` entries name them:
- usage_spike (factor, window_minutes=60, min_uses=20): allowed decisions in the window exceed ``factor`` times the
  grant's own average per window over the 24 hours before it, and number at least ``min_uses`` (the rule's floor,
  so that a quiet grant's first busy hour is not a finding).
- denied_exports (count, window_minutes=30): the grant's principals were denied ``export_outputs`` on its asset
  ``count`` times or more.
- outside_window (window_minutes=10): the grant's principals asked for its asset outside its validity window.
- new_client_address (window_minutes=10): the grant was used from an address it had not been used from in the
  30 days before, when it had been used at all.
- removed_measurement (count=3, window_minutes=10): the grant's principals presented an enclave whose measurement
  was removed from its allow-list (fresh evidence, or a session attested on it) ``count`` times or more: an image
  the host withdrew is still running.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit import chain
from audit.trail import record
from charters.models import Charter
from charters.terms import terms_of
from charters.vocabulary import Action, MisuseRule
from governance.anomalies.selectors import CHECKER
from governance.attestation.requirements import MEASUREMENT_REMOVED
from governance.decisions import records
from governance.grants import services as grant_services
from governance.incidents.services import incident_for_finding
from governance.models import AnomalyFinding, Grant, PartnerRole
from governance.outbox.services import grant_link, mail_enqueue, officer_addresses
from governance.usage import selectors as usage
from governance.usage.services import usage_rollup

DEFAULT_MIN_USES = 20
BASELINE = timedelta(hours=24)
HISTORY = timedelta(days=30)
DEFAULT_WINDOW: dict[str, int] = {
    MisuseRule.USAGE_SPIKE: 60,
    MisuseRule.DENIED_EXPORTS: 30,
    MisuseRule.OUTSIDE_WINDOW: 10,
    MisuseRule.NEW_CLIENT_ADDRESS: 10,
    MisuseRule.REMOVED_MEASUREMENT: 10,
}
OUTSIDE_CODES = ("not_yet_valid", "grant_expired")
REMOVED_CODES = (MEASUREMENT_REMOVED,)
# The rules that count the grant's askers' denies: the action and codes they count, and how many break them unless
# the rule's ``count`` says (outside_window: any).
DENY_RULES: dict[str, tuple[str | None, tuple[str, ...], int]] = {
    MisuseRule.DENIED_EXPORTS: (Action.EXPORT_OUTPUTS, (), 3),
    MisuseRule.OUTSIDE_WINDOW: (None, OUTSIDE_CODES, 1),
    MisuseRule.REMOVED_MEASUREMENT: (None, REMOVED_CODES, 3),
}


@dataclass(frozen=True)
class Rule:
    name: str
    rule: str
    severity: str
    params: dict[str, Any]

    def window(self) -> timedelta:
        return timedelta(minutes=int(self.params.get("window_minutes", DEFAULT_WINDOW[self.rule])))

    def last(self) -> str:
        """The window as a finding says it: "the last hour", "the last 30 minutes"."""
        return f"the last {_unit(self.window())}"


def _duration(span: timedelta) -> str:
    """A span as people write it: "1 hour", "30 minutes", "1 hour 30 minutes" (not "1:30:00")."""
    hours, minutes = divmod(round(span.total_seconds() / 60), 60)
    units = ((hours, "hour"), (minutes, "minute"))
    return " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in units if count) or "0 minutes"


def _unit(span: timedelta) -> str:
    """A span after "the last" or "per": "hour" for one hour, "30 minutes" for thirty."""
    text = _duration(span)
    return text.removeprefix("1 ") if text in ("1 hour", "1 minute") else text


@dataclass(frozen=True)
class Broken:
    """A broken rule: ``summary`` and ``details`` name its thresholds and windows, which are the host's own terms
    (charters/documents.py), so they go to the finding, the officers' mail and a host-scoped event; ``said`` is
    what the partner's slice of the trail and the grant's status say."""

    rule: Rule
    summary: str
    details: dict[str, Any]
    said: str


def _principals(grant: Grant) -> list[str]:
    if grant.principal_id is not None:
        return [str(grant.principal_id)]
    assert grant.partner_role is not None  # noqa: S101 (a grant names a principal or a role: a constraint says so)
    return [str(pk) for pk in grant.partner_role.members.values_list("pk", flat=True)]


def _since(rule: Rule, now: datetime, after: datetime | None) -> datetime:
    """Where the evidence for a rule starts: its window back from now, but never before the grant's last finding
    (that evidence was acted on; counting it again would suspend a resumed grant for the same burst)."""
    start = now - rule.window()
    return max(start, after) if after else start


def _check(grant: Grant, rule: Rule, since: datetime, now: datetime) -> Broken | None:
    """Whether the grant's use from ``since`` to ``now`` breaks the rule."""
    window = rule.window()
    if rule.rule == MisuseRule.USAGE_SPIKE:
        recent = usage.allowed_count(grant.pk, since=since, until=now)
        before = usage.allowed_count(grant.pk, since=since - BASELINE, until=since)
        baseline = before / (BASELINE / window)
        factor = float(rule.params.get("factor", 5))
        floor = int(rule.params.get("min_uses", DEFAULT_MIN_USES))
        if recent >= floor and recent > factor * max(baseline, 1.0):
            if before:
                summary = (
                    f"{recent} uses in {rule.last()}, more than {factor:g}x the grant's average of {baseline:.1f} "
                    f"per {_unit(window)} over the {_duration(BASELINE)} before"
                )
            else:
                summary = (
                    f"{recent} uses in {rule.last()}, over the rule's floor of {floor} uses; the grant has no "
                    "earlier use to compare with"
                )
            details = {"recent": recent, "baseline": round(baseline, 2), "factor": factor, "min_uses": floor}
            return Broken(rule, summary, details, "use far above the grant's usual rate")
    elif rule.rule in DENY_RULES:
        action, codes, _ = DENY_RULES[rule.rule]
        denied = usage.denied_count(
            principals=_principals(grant),
            asset=grant.asset_version.fingerprint,
            since=since,
            until=now,
            action=action,
            codes=codes,
        )
        if denied >= _least(rule):
            return _denies_broken(rule, denied)
    elif rule.rule == MisuseRule.NEW_CLIENT_ADDRESS:
        seen = records.grant_client_addresses(grant.pk, since=since - HISTORY, until=since)
        lately = records.grant_client_addresses(grant.pk, since=since, until=now)
        new = sorted(lately - seen)
        if seen and new:
            said = f"used from {', '.join(new[:3])}, never seen in the 30 days before"
            return Broken(rule, said, {"new": new}, said)
    return None


def _least(rule: Rule) -> int:
    """How many of its denies break a rule that counts them (any request outside the window is one too many)."""
    if rule.rule == MisuseRule.OUTSIDE_WINDOW:
        return 1
    return int(rule.params.get("count", DENY_RULES[rule.rule][2]))


def _denies_broken(rule: Rule, denied: int) -> Broken:
    if rule.rule == MisuseRule.DENIED_EXPORTS:
        said = "repeated export attempts that were denied"
        return Broken(rule, f"{denied} denied export attempts in {rule.last()}", {"denied": denied}, said)
    if rule.rule == MisuseRule.OUTSIDE_WINDOW:
        said = f"{denied} requests outside the grant's window"
        return Broken(rule, said, {"requests": denied}, said)
    said = f"an enclave whose measurement was removed from its allow-list was presented {denied} times"
    return Broken(rule, f"{said} in {rule.last()}", {"presented": denied}, said)


def _rules(charter: Charter) -> list[Rule]:
    misuse = terms_of(charter.active_version).misuse if charter.active_version else ()
    return [
        Rule(entry.name, entry.rule, entry.severity, dict(entry.params))
        for entry in misuse
        if entry.rule in DEFAULT_WINDOW
    ]


def _record(grant: Grant, broken: Broken, since: datetime, now: datetime) -> AnomalyFinding | None:
    """The finding, the suspension and the mail, all or none; None when another run recorded this evidence or
    moved the grant meanwhile."""
    try:
        with transaction.atomic():
            finding, created = AnomalyFinding.objects.get_or_create(
                grant=grant,
                name=broken.rule.name,
                window_start=since,
                defaults={
                    "rule": broken.rule.rule,
                    "severity": broken.rule.severity,
                    "window_end": now,
                    "summary": broken.summary[:500],
                    "details": broken.details,
                    "created_at": now,
                },
            )
            if not created:
                return None
            reason = f"Anomaly {broken.rule.name} ({broken.rule.severity}): {broken.summary}."
            said = f"Anomaly {broken.rule.name} ({broken.rule.severity}): {broken.said}."
            current = Grant.objects.select_related("partner", "charter", "asset_version__asset", "principal")
            grant_services.grant_suspend(grant=current.get(pk=grant.pk), by=CHECKER, reason=said)
            record(
                action="anomaly.found",
                actor=CHECKER,
                target=finding,
                reason=reason,
                details={"partner": grant.partner.slug, "grant": grant.pk, "rule": broken.rule.rule, **broken.details},
            )
            mail_enqueue(
                key=f"anomaly-finding-{finding.pk}",
                to=officer_addresses(),
                subject=f"[Accord] {broken.rule.severity} anomaly on grant #{grant.pk} ({grant.partner.slug})",
                body=f"{reason}\n\nThe grant is suspended until an officer resumes it. Finding #{finding.pk}, "
                f"use from {since:%Y-%m-%d %H:%M} to {now:%H:%M} UTC.\n\nOpen it: {grant_link(grant.pk)}\n",
            )
            incident_for_finding(finding=finding, by=CHECKER)
    except ValidationError:
        return None  # an officer suspended or revoked it a moment ago: nothing left to stop
    return finding


@dataclass(frozen=True)
class _Active:
    """What the grouped counts need of an active grant: who may ask under it, and for which asset."""

    principals: tuple[str, ...]
    asset: str


def _active(charter: Charter) -> dict[int, _Active]:
    """The charter's active grants, in two queries however many there are."""
    rows = list(
        Grant.objects.filter(charter=charter, status=Grant.Status.ACTIVE).values_list(
            "pk", "principal_id", "partner_role_id", "asset_version__fingerprint"
        )
    )
    members: dict[int, list[str]] = {}
    roles = {role for _, _, role, _ in rows if role is not None}
    through = PartnerRole.members.through.objects.filter(partnerrole_id__in=roles)
    for role, user in through.values_list("partnerrole_id", "user_id"):
        members.setdefault(role, []).append(str(user))
    return {
        pk: _Active((str(principal),) if principal is not None else tuple(members.get(role, ())), asset)
        for pk, principal, role, asset in rows
    }


def _candidates(
    charter: Charter, rules: list[Rule], now: datetime, used_since: Callable[[datetime], set[int]]
) -> dict[int, set[str]]:
    """Which of the charter's active grants could break which rules: one grouped query per rule over its window's
    minute rows (or, for new addresses, the trail's last minutes), so the cost grows with the grants that were used,
    not with those that exist. A grant left out cannot break the rule: the evidence a check counts starts at the
    window's start or later (``_since``), so it never exceeds what is counted here."""
    active = functools.cache(lambda: _active(charter))  # only the rules on denies need every grant's askers
    ids = Grant.objects.filter(charter=charter, status=Grant.Status.ACTIVE).values("pk")
    assets = Grant.objects.filter(charter=charter, status=Grant.Status.ACTIVE).values("asset_version__fingerprint")
    could: dict[int, set[str]] = {}
    for rule in rules:
        since = now - rule.window()
        if rule.rule == MisuseRule.USAGE_SPIKE:
            floor = max(int(rule.params.get("min_uses", DEFAULT_MIN_USES)), 1)
            found = usage.busy_grants(ids, since=since, until=now, floor=floor)
        elif rule.rule == MisuseRule.NEW_CLIENT_ADDRESS:
            used = used_since(since)
            found = (
                set(
                    Grant.objects.filter(pk__in=used, charter=charter, status=Grant.Status.ACTIVE).values_list(
                        "pk", flat=True
                    )
                )
                if used
                else set()
            )
        else:
            action, codes, _ = DENY_RULES[rule.rule]
            denies = usage.denies_by_asker(assets=assets, since=since, until=now, action=action, codes=codes)
            least = _least(rule)
            found = {
                pk
                for pk, grant in active().items()
                if sum(denies.get((principal, grant.asset), 0) for principal in grant.principals) >= least
            }
        for pk in found:
            could.setdefault(pk, set()).add(rule.name)
    return could


def anomalies_check(*, now: datetime | None = None) -> list[AnomalyFinding]:
    """Check every active grant of every active charter with misuse rules; the findings made by this run."""
    now = now or timezone.now()
    # The roll-up counts sealed events: seal what has committed (the sealer's own lock keeps this safe beside it),
    # then count it.
    chain.seal(quiet_interval=settings.ACCORD_AUDIT_QUIET_CHECKPOINT_SECONDS)
    usage_rollup(now=now)
    found = []
    # The grants used since a moment, read from the trail once per run and window, whichever charters ask.
    used_since = functools.cache(lambda since: records.used_grants(since=since, until=now))
    for charter in Charter.objects.select_related("active_version").filter(status=Charter.Status.ACTIVE):
        rules = _rules(charter)
        if not rules:
            continue
        could = _candidates(charter, rules, now, used_since)
        if not could:
            continue
        last_found = dict(
            AnomalyFinding.objects.filter(grant__in=could.keys())
            .values("grant")
            .annotate(last=Max("created_at"))
            .values_list("grant", "last")
        )
        grants: Iterable[Grant] = (
            Grant.objects.select_related("partner", "asset_version", "partner_role")
            .filter(pk__in=could.keys(), status=Grant.Status.ACTIVE)
            .order_by("pk")
        )
        for grant in grants:
            for rule in rules:
                if rule.name not in could[grant.pk]:
                    continue
                since = _since(rule, now, last_found.get(grant.pk))
                broken = _check(grant, rule, since, now)
                finding = _record(grant, broken, since, now) if broken else None
                if finding is not None:
                    found.append(finding)
                    break  # the grant is suspended: the other rules have nothing left to stop
    return found
