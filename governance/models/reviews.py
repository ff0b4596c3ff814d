"""Access reviews and their items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from charters.vocabulary import Unanswered


class ReviewCampaign(models.Model):
    """An access review of one charter's grants: created on the charter's cadence or on demand, with a deadline
    by which each item is kept or revoked; unanswered items are then revoked or escalated, as the charter says."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Trigger(models.TextChoices):
        CADENCE = "cadence", "On the charter's cadence"
        ON_DEMAND = "on_demand", "On demand"

    charter = models.ForeignKey("charters.Charter", on_delete=models.PROTECT, related_name="review_campaigns")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    unanswered = models.CharField(
        max_length=16, choices=Unanswered.choices, help_text="What the deadline does to an unanswered item."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150)
    deadline = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True, help_text="Who closed it: a person or the scheduled run.")
    close_reason = models.TextField(blank=True, help_text="Why an officer closed it before every item was answered.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charter"],
                condition=models.Q(status="open"),
                name="one_open_review_per_charter",
                violation_error_message="This charter already has an open review.",
            )
        ]

    def __str__(self) -> str:
        return f"review #{self.pk} of {self.charter_id}"


class ReviewItem(models.Model):
    """One grant in a review, as it stood when the review began, and what became of it."""

    class Decision(models.TextChoices):
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    class Outcome(models.TextChoices):
        KEPT = "kept", "Kept"
        REVOKED = "revoked", "Revoked"
        ESCALATED = "escalated", "Escalated"
        GONE = "gone", "Ended before the review did"

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey("governance.Grant", on_delete=models.PROTECT, related_name="review_items")
    snapshot = models.JSONField(help_text="The grant as it stood when the review began.")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_items")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    justification = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "grant"], name="one_item_per_grant_and_review")]

    def __str__(self) -> str:
        return f"item #{self.pk}: grant #{self.grant_id}"
