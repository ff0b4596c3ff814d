"""The usage roll-up: decisions counted per interval from the trail, for pages, the usage API and the charts."""

from __future__ import annotations

from django.db import models


class UsageCount(models.Model):
    """How many decisions of one kind fell in one interval: allows, or denies with one code, of one principal on one
    asset version for one action, under one grant when the decision had one (a deny made before any grant was
    found, "no grant covers this", has none). Written only by the roll-up (governance/usage/services.py)."""

    class Interval(models.TextChoices):
        MINUTE = "minute", "Minute"
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    interval = models.CharField(max_length=8, choices=Interval.choices)
    start = models.DateTimeField(help_text="The interval's first instant (UTC).")
    key = models.CharField(max_length=64, help_text="The SHA-256 of the fields below that name the kind counted.")
    partner = models.CharField(max_length=64)
    # No database constraint: the counts mirror the trail, which names a grant by its id in each decision's details.
    grant = models.ForeignKey(
        "governance.Grant", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    principal = models.CharField(max_length=64, help_text="The asking principal's id, as the trail names actors.")
    principal_label = models.CharField(max_length=150)
    asset = models.CharField(max_length=64, help_text="The asset version's fingerprint, as asked.")
    action = models.CharField(max_length=64)
    allowed = models.BooleanField()
    code = models.CharField(max_length=64, blank=True, help_text="A deny's reason code; empty for allows.")
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["interval", "start", "key"], name="usage_count_one_row_per_kind"),
        ]
        indexes = [
            models.Index(fields=["interval", "partner", "start"], name="usage_partner_idx"),
            models.Index(fields=["interval", "grant", "start"], name="usage_grant_idx"),
            models.Index(fields=["interval", "principal", "start"], name="usage_principal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.interval} {self.start:%Y-%m-%d %H:%M} {self.action} {self.code or 'allowed'}: {self.count}"


class UsageTotal(models.Model):
    """A partner's allows, or its denies with one code, in one interval: the sums of its UsageCount rows, kept beside
    them by the roll-up in the same transaction, so that a chart of every partner over a month reads a few hundred
    rows rather than every grant's."""

    interval = models.CharField(max_length=8, choices=UsageCount.Interval.choices)
    start = models.DateTimeField(help_text="The interval's first instant (UTC).")
    partner = models.CharField(max_length=64)
    allowed = models.BooleanField()
    code = models.CharField(max_length=64, blank=True, help_text="A deny's reason code; empty for allows.")
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["interval", "start", "partner", "allowed", "code"], name="usage_total_one_row_per_kind"
            ),
        ]  # its index serves the charts' reads, by interval and time (and partner)

    def __str__(self) -> str:
        return f"{self.interval} {self.start:%Y-%m-%d %H:%M} {self.partner} {self.code or 'allowed'}: {self.count}"


class UsageRollupCursor(models.Model):
    """Where the roll-up stands in the trail's chain: every sealed event up to ``chain_seq`` is counted. One row;
    a run holds it locked while it counts, so two runs (a redelivered task) never count the same event."""

    name = models.CharField(max_length=32, unique=True)
    chain_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at chain {self.chain_seq}"
