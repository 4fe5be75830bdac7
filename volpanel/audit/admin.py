"""Read-only Django admin for audit rows and their chained events: no add, change or delete."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from volpanel.audit.models import AuditEntry, AuditEvent
from volpanel.volumes import actions


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


class ActionFilter(admin.SimpleListFilter):
    """The audited kinds the registry knows, by label: no DISTINCT over the whole trail to list them."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind.name, kind.label) for kind in actions.AUDITED.values()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "actor_name", "project_name", "action_label", "volume_name", "outcome",
                    "request_id")
    list_filter = ("outcome", ActionFilter, "is_admin")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["action_label", *super().get_readonly_fields(request, obj)]

    @admin.display(description="action", ordering="action")
    def action_label(self, entry: AuditEntry) -> str:
        return f"{actions.label(entry.action)} ({entry.action})"
    search_fields = ("volume_id", "volume_name", "request_id", "actor_name")
    date_hierarchy = "requested_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "entry", "kind", "outcome", "hash")
    list_filter = ("kind", "outcome")
    search_fields = ("entry__uuid", "entry__volume_id", "hash")
    list_select_related = ("entry",)
