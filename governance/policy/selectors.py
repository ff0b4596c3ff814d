"""Reading the recorded bundles: one by its change or hash, its lines, and the diff of two, by charter."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404

from accord.validation import is_whole_number
from charters.models import Charter
from charters.services.policy_feed import Head
from governance.models import PolicyBundle
from governance.policy.snapshot import Snapshot


def bundle_get(ref: str) -> PolicyBundle:
    """A bundle by its hash (the newest with it: a policy can return to an earlier state) or its feed number."""
    found = None
    if is_whole_number(ref):
        found = PolicyBundle.objects.filter(seq=int(ref)).first()
    if found is None and len(ref) >= 8:  # a hash's prefix may be all digits too
        found = PolicyBundle.objects.filter(hash__startswith=ref.lower()).order_by("-seq").first()
    if found is None:
        raise Http404(f"No policy bundle {ref!r}: give a bundle's hash (8 characters or more) or its change number.")
    return found


def bundle_lines(bundle: PolicyBundle) -> set[tuple[str, ...]]:
    """Every line of the bundle, each as ("p", ...) or ("g", ...): the nearest checkpoint, then the deltas."""
    checkpoint = PolicyBundle.objects.filter(checkpoint__isnull=False, seq__lte=bundle.seq).order_by("-seq").first()
    if checkpoint is None or checkpoint.checkpoint is None:
        raise Http404("This bundle has no checkpoint before it to be rebuilt from.")
    compiled = Snapshot.from_facts(checkpoint.checkpoint, Head(checkpoint.seq, "")).bundle()
    lines = {("p", *line) for line in compiled.policies} | {("g", *line) for line in compiled.groupings}
    deltas = PolicyBundle.objects.filter(seq__gt=checkpoint.seq, seq__lte=bundle.seq).order_by("seq")
    for step in deltas.values_list("added", "removed"):
        lines |= {tuple(row) for row in step[0]}
        lines -= {tuple(row) for row in step[1]}
    return lines


@dataclass
class Group:
    charter: str
    partner: str
    added: list[tuple[str, ...]] = field(default_factory=list)
    removed: list[tuple[str, ...]] = field(default_factory=list)


def _domain(line: tuple[str, ...]) -> str:
    """The charter a line belongs to: a policy line's domain is its third field, a role link's its last."""
    return line[2] if line[0] == "p" else line[-1]


def bundle_diff(old: PolicyBundle, new: PolicyBundle) -> list[Group]:
    """The lines ``new`` has that ``old`` has not, and the reverse, grouped by charter and partner."""
    before, after = bundle_lines(old), bundle_lines(new)
    partners = dict(Charter.objects.values_list("slug", "partner__slug"))
    groups: dict[str, Group] = {}
    for side, lines in (("added", after - before), ("removed", before - after)):
        for line in sorted(lines):
            domain = _domain(line)
            group = groups.setdefault(domain, Group(charter=domain, partner=partners.get(domain, "")))
            getattr(group, side).append(line)
    return [groups[domain] for domain in sorted(groups)]


def lines_by_charter(lines: set[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    grouped: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for line in sorted(lines):
        grouped[_domain(line)].append(line)
    return dict(grouped)


def bundle_history() -> QuerySet[PolicyBundle]:
    """Every recorded bundle, newest first, with the bundle before it."""
    return PolicyBundle.objects.select_related("parent")
