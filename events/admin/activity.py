"""Admin for activity events and the append-only audit trail."""

from django.contrib import admin

from ..models.activity import ActivityEvent, ProjectAction
from ..models.feeds import FeedToken


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = ["title", "event_type", "status", "project", "user", "duration", "created_at"]
    list_filter = ["status", "event_type", "project", "entity_type"]
    search_fields = ["title", "description", "entity_id", "external_id"]
    list_select_related = ["project", "user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "updated_at"]
    # At a million rows the unfiltered total would be a full-table COUNT on every page view.
    show_full_result_count = False


@admin.register(ProjectAction)
class ProjectActionAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, staff included."""

    list_display = ["action_type", "status", "environment", "project", "user", "created_at", "request_id"]
    list_filter = ["status", "environment", "action_type", "project"]
    search_fields = ["action_details", "action_type", "request_id", "action_id"]
    list_select_related = ["project", "user"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FeedToken)
class FeedTokenAdmin(admin.ModelAdmin):
    """Staff can see who has a feed token and delete one (its URLs stop working); the secret is never shown."""

    list_display = ["user", "prefix", "issued_at"]
    search_fields = ["user__username", "prefix"]
    list_select_related = ["user"]
    fields = ["user", "prefix", "issued_at"]
    readonly_fields = ["user", "prefix", "issued_at"]

    def has_add_permission(self, request):
        return False
