"""A flat-cost answer to the question Casbin's Enforcer answers for model.conf, kept current change by change.

For a request (sub, dom, obj, act, purpose) the model allows when some allow line with a subject in
{sub and the roles sub holds in dom} matches (dom, obj, act) and the purpose (exactly or by "*"), and no deny
line matches the same way. The index keeps those lines in dicts keyed by (dom, obj, act), and each subject's
roles per domain as a precomputed closure, so a lookup costs the same with 100 lines or 100,000.

Lines are counted: two grants may compile to the same line, and the line stays until neither holds it. Adding
or removing a line touches only its own key; a role link recomputes the closures of its domain only.

Casbin stays the reference: tests/governance/test_policy_index.py checks that both give the same answer on
generated policies and requests, built at once and changed line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

# Casbin's default role manager follows role links at most this many levels deep.
MAX_HIERARCHY_LEVEL = 10
WILDCARD = "*"

NO_ROLES: frozenset[str] = frozenset()

Key = tuple[str, str, str]
Line = tuple[str, ...]


def _count(counts: dict[str, int], name: str, delta: int) -> bool:
    """Change a count; True when ``name`` appeared (0 -> 1) or disappeared (1 -> 0)."""
    after = counts.get(name, 0) + delta
    if after < 0:
        raise ValueError(f"{name} was removed more often than it was added")
    if after:
        counts[name] = after
    else:
        counts.pop(name, None)
    return after == (1 if delta > 0 else 0)


class PolicyIndex:
    def __init__(self, policies: Iterable[Line] = (), groupings: Iterable[Line] = ()) -> None:
        # effect -> (dom, obj, act) -> purpose -> subject -> how many sources hold the line
        self._lines: dict[str, dict[Key, dict[str, dict[str, int]]]] = {"allow": {}, "deny": {}}
        # dom -> member -> role -> count, and the closure: dom -> member -> every role it reaches
        self._links: dict[str, dict[str, dict[str, int]]] = {}
        self._roles: dict[str, dict[str, frozenset[str]]] = {}
        self._unclosed: set[str] | None = None
        with self.batch():
            for line in policies:
                self.add_policy(line)
            for line in groupings:
                self.add_grouping(line)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many changes at once (a load, a charter's grants recompiled): each domain's closures are computed
        once at the end instead of after every role link."""
        if self._unclosed is not None:
            yield
            return
        self._unclosed = set()
        try:
            yield
        finally:
            unclosed, self._unclosed = self._unclosed, None
            for dom in unclosed:
                self._close(dom)

    # --- Changes ----------------------------------------------------------------------------------------

    def add_policy(self, line: Line) -> bool:
        """Count one more source of this line; True when the policy gained it."""
        return self._policy(line, +1)

    def remove_policy(self, line: Line) -> bool:
        """Count one source fewer; True when the policy lost the line."""
        return self._policy(line, -1)

    def _policy(self, line: Line, delta: int) -> bool:
        sub, dom, obj, act, purpose, effect = line
        by_key = self._lines[effect]
        by_purpose = by_key.setdefault((dom, obj, act), {})
        holders = by_purpose.setdefault(purpose, {})
        changed = _count(holders, sub, delta)
        if not holders:
            del by_purpose[purpose]
            if not by_purpose:
                del by_key[(dom, obj, act)]
        return changed

    def add_grouping(self, line: Line) -> bool:
        return self._grouping(line, +1)

    def remove_grouping(self, line: Line) -> bool:
        return self._grouping(line, -1)

    def _grouping(self, line: Line, delta: int) -> bool:
        member, role, dom = line
        members = self._links.setdefault(dom, {})
        roles = members.setdefault(member, {})
        changed = _count(roles, role, delta)
        if not roles:
            del members[member]
            if not members:
                del self._links[dom]
        if changed:
            if self._unclosed is not None:
                self._unclosed.add(dom)
            else:
                self._close(dom)
        return changed

    def _close(self, dom: str) -> None:
        """Recompute the role closures of one domain (role links are few and change rarely)."""
        links = self._links.get(dom, {})
        closures = {}
        for member in links:
            reached: set[str] = set()
            frontier = {member}
            for _ in range(MAX_HIERARCHY_LEVEL - 1):
                frontier = {role for name in frontier for role in links.get(name, ())} - reached
                if not frontier:
                    break
                reached |= frontier
            if reached:
                closures[member] = frozenset(reached)
        if closures:
            self._roles[dom] = closures
        else:
            self._roles.pop(dom, None)

    # --- The answer -------------------------------------------------------------------------------------

    def _matches(self, effect: str, subjects: frozenset[str], key: Key, purpose: str) -> bool:
        by_purpose = self._lines[effect].get(key)
        if not by_purpose:
            return False
        for candidate in (purpose, WILDCARD):
            holders = by_purpose.get(candidate)
            if holders and not holders.keys().isdisjoint(subjects):
                return True
        return False

    def subjects(self, sub: str, dom: str) -> frozenset[str]:
        """``sub`` and every role it reaches in ``dom``: whom a line must name to apply to ``sub`` there."""
        return self._roles.get(dom, {}).get(sub, NO_ROLES) | {sub}

    def enforce(self, sub: str, dom: str, obj: str, act: str, purpose: str) -> bool:
        subjects = self.subjects(sub, dom)
        key = (dom, obj, act)
        return self._matches("allow", subjects, key, purpose) and not self._matches("deny", subjects, key, purpose)
