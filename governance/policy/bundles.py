"""Policy bundles: every state of the compiled policy, recorded from the policy feed, listed, shown and compared.

The recorder steps through the feed one change at a time on a snapshot of its own, so each change that alters the
compiled lines yields exactly one bundle, whose hash is the one decisions named while that policy stood. A bundle
stores the lines it adds and removes; every CHECKPOINT_EVERY bundles, one also stores the facts it was compiled
from, so that any bundle is rebuilt from the checkpoint before it (and a restarted recorder resumes from there).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.trail import Actor, record
from charters.models import PolicyChange
from charters.services.policy_feed import Head
from governance.models import PolicyBundle
from governance.policy.bundle import Line
from governance.policy.snapshot import Snapshot

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 200
RECORDER = Actor.system("policy-bundle-recorder")
BATCH = 500


@dataclass
class _Recorder:
    """This process's recorder: its snapshot stands at the last feed change it applied."""

    snapshot: Snapshot | None = None


_recorder = _Recorder()


def _lines(snapshot: Snapshot) -> tuple[frozenset[Line], frozenset[Line]]:
    bundle = snapshot.bundle()
    return frozenset(bundle.policies), frozenset(bundle.groupings)


def _as_rows(kind: str, lines: set[Line] | frozenset[Line]) -> list[list[str]]:
    return [[kind, *line] for line in sorted(lines)]


def _resume() -> Snapshot | None:
    """The recorder's snapshot rebuilt from the newest checkpoint and the feed after it; None before any bundle."""
    checkpoint = PolicyBundle.objects.filter(checkpoint__isnull=False).order_by("-seq").first()
    if checkpoint is None:
        return None
    assert checkpoint.checkpoint is not None  # noqa: S101 (filtered above)
    snapshot = Snapshot.from_facts(checkpoint.checkpoint, Head(checkpoint.seq, ""))
    last = PolicyBundle.objects.order_by("-seq").values_list("seq", flat=True).first() or checkpoint.seq
    for change in PolicyChange.objects.filter(seq__gt=checkpoint.seq, seq__lte=last).order_by("seq"):
        snapshot.apply(change)
    snapshot.version = Head(last, "")
    return snapshot


def _first(snapshot: Snapshot) -> PolicyBundle:
    """The first bundle: the whole policy as it stands, as a checkpoint."""
    policies, groupings = _lines(snapshot)
    return PolicyBundle.objects.create(
        seq=snapshot.version.seq,
        hash=snapshot.bundle_hash,
        changed_at=timezone.now(),
        changed_by="(the policy as it stood when bundles were first recorded)",
        added=_as_rows("p", policies) + _as_rows("g", groupings),
        line_count=len(policies) + len(groupings),
        checkpoint=snapshot.facts(),
    )


def _record_bundle(bundle: PolicyBundle) -> None:
    """The trail's note that this bundle became the policy, with the change that made it."""
    record(
        action="policy.bundle_recorded",
        actor=RECORDER,
        target=bundle,
        details={
            "hash": bundle.hash,
            "seq": bundle.seq,
            "change": f"{bundle.change_kind} #{bundle.change_object}" if bundle.change_kind else "first recorded",
            "changed_by": bundle.changed_by,
            "changed_at": bundle.changed_at,
            "added": len(bundle.added),
            "removed": len(bundle.removed),
        },
    )


def bundles_record(*, limit: int = BATCH) -> int:
    """Record a bundle for each feed change not yet recorded that changed the compiled lines; how many were."""
    snapshot = _recorder.snapshot or _resume()
    written = 0
    if snapshot is None:
        snapshot = Snapshot.load()
        try:
            with transaction.atomic():
                _record_bundle(_first(snapshot))
        except IntegrityError:
            return 0  # another recorder got there first; the next run resumes from its bundles
        _recorder.snapshot = snapshot
        written += 1
    last = PolicyBundle.objects.order_by("-seq").first()
    since_checkpoint = PolicyBundle.objects.filter(
        seq__gt=PolicyBundle.objects.filter(checkpoint__isnull=False).order_by("-seq").values("seq")[:1]
    ).count()
    for change in PolicyChange.objects.filter(seq__gt=snapshot.version.seq).order_by("seq")[:limit]:
        snapshot.journal = []
        if not snapshot.apply(change):
            # Written before the feed carried state: only a fresh load can say what the policy is now.
            logger.warning("Policy change %s carries no state; recording bundles from a fresh load", change.seq)
            _recorder.snapshot = None
            return written
        net: Counter[tuple[str, Line]] = Counter()
        for sign, kind, line in snapshot.journal:
            net[(kind, line)] += 1 if sign == "+" else -1
        snapshot.journal = None
        added = [[kind, *line] for (kind, line), count in sorted(net.items()) if count > 0]
        removed = [[kind, *line] for (kind, line), count in sorted(net.items()) if count < 0]
        if not added and not removed:
            continue  # the compiled policy is what it was: no new bundle
        since_checkpoint += 1
        try:
            with transaction.atomic():
                last = PolicyBundle.objects.create(
                    seq=change.seq,
                    hash=snapshot.bundle_hash,
                    parent=last,
                    change_kind=change.kind,
                    change_object=change.object_id,
                    changed_by=change.actor,
                    changed_at=change.changed_at,
                    added=added,
                    removed=removed,
                    line_count=(last.line_count if last else 0) + len(added) - len(removed),
                    checkpoint=snapshot.facts() if since_checkpoint >= CHECKPOINT_EVERY else None,
                )
                _record_bundle(last)
        except IntegrityError:
            _recorder.snapshot = None  # another recorder wrote this one: resume from the stored bundles
            return written
        if since_checkpoint >= CHECKPOINT_EVERY:
            since_checkpoint = 0
        written += 1
    _recorder.snapshot = snapshot
    return written


def bundles_forget() -> None:
    """Drop this process's recorder state (tests: each test database has its own bundles)."""
    _recorder.snapshot = None


# --- Reading ----------------------------------------------------------------------------------------------
