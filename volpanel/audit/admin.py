"""Read-only Django admin for audit rows and their chained events: no add, change or delete."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from volpanel.audit.models import AuditEntry, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows and nothing more: audit history is written by services only."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "actor_name", "project_name", "action", "volume_name", "outcome", "request_id")
    list_filter = ("outcome", "action", "is_admin")
    search_fields = ("volume_id", "volume_name", "request_id", "actor_name")
    date_hierarchy = "requested_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "entry", "kind", "outcome", "hash")
    list_filter = ("kind", "outcome")
    search_fields = ("entry__uuid", "entry__volume_id", "hash")
    list_select_related = ("entry",)
