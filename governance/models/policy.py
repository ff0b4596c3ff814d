"""The recorded policy bundles."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class PolicyBundle(models.Model):
    """One state of the compiled policy, as a change in the policy feed left it: immutable, named by its hash.

    Stored as the lines it adds to and removes from the bundle before it. Every few bundles one also carries the
    facts it was compiled from (a checkpoint), so that any bundle's lines are rebuilt from the nearest checkpoint
    before it, and the recorder restarts from there.
    """

    seq = models.BigIntegerField(unique=True, help_text="The policy feed change that made this bundle.")
    hash = models.CharField(max_length=64, db_index=True)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    change_kind = models.CharField(max_length=16, blank=True, help_text="grant, charter or role; empty for the first.")
    change_object = models.BigIntegerField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    added = models.JSONField(
        default=list, help_text='Lines added: ["p", sub, dom, obj, act, purpose, effect] or ["g", member, role, dom].'
    )
    removed = models.JSONField(default=list, help_text="Lines removed, in the same form.")
    line_count = models.PositiveIntegerField()
    checkpoint = models.JSONField(null=True, blank=True, help_text="The facts compiled, on checkpoint bundles.")

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"bundle {self.hash[:12]} at change {self.seq}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Policy bundles are immutable: a recorded bundle cannot be changed.")
        super().save(*args, **kwargs)
