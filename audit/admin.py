from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["id", "occurred_at", "action", "actor_label", "partner", "outcome"]
    list_filter = ["action", "outcome", "actor_type"]
    search_fields = ["actor_label", "partner", "target_id", "request_id"]

    # The trail is read-only everywhere, the admin included.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
