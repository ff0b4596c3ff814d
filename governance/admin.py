"""Read-only views for officers and auditors of what the workers decide: anomaly findings, access reviews, and the
mail outbox. Changes go through the pages and services, never through the admin."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from governance.models import AnomalyFinding, OutboxMessage, ReviewCampaign


class ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AnomalyFinding)
class AnomalyFindingAdmin(ReadOnly):
    list_display = ["id", "created_at", "grant", "name", "severity", "summary"]
    list_filter = ["rule", "severity"]


@admin.register(ReviewCampaign)
class ReviewCampaignAdmin(ReadOnly):
    list_display = ["id", "charter", "trigger", "status", "created_at", "deadline"]
    list_filter = ["status", "trigger"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnly):
    list_display = ["id", "created_at", "subject", "sent_at", "attempts", "last_error"]
    list_filter = ["sent_at"]
