"""Admin for conversations, messages, feedback, bookmarks and chunk performance."""

from django.contrib import admin, messages

from ..models.messages import Bookmark, ChunkPerformance, Conversation, Message, MessageEvent, RollupWatermark


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "content", "chunk_ids", "created_at"]
    extra = 0
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "external_id", "user", "created_at"]
    list_filter = ["project", "created_at"]
    search_fields = ["title", "external_id"]
    list_select_related = ["project", "user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["pk", "role", "excerpt", "conversation", "created_at"]
    list_filter = ["role", "conversation__project"]
    search_fields = ["content", "conversation__title"]
    list_select_related = ["conversation"]
    raw_id_fields = ["conversation"]
    date_hierarchy = "created_at"

    @admin.display(description="Content")
    def excerpt(self, obj):
        return obj.content[:80]


@admin.register(MessageEvent)
class MessageEventAdmin(admin.ModelAdmin):
    list_display = ["pk", "event_type", "feedback", "message", "conversation", "user", "timestamp"]
    list_filter = ["event_type", "feedback", "conversation__project"]
    search_fields = ["=message__id", "conversation__title", "user__username"]
    list_select_related = ["message", "conversation", "user"]
    raw_id_fields = ["message", "conversation", "user"]
    readonly_fields = ["updated_at"]
    date_hierarchy = "timestamp"


@admin.register(Bookmark)
class BookmarkAdmin(admin.ModelAdmin):
    list_display = ["user", "message", "created_at"]
    list_filter = ["message__conversation__project"]
    search_fields = ["user__username", "message__content"]
    list_select_related = ["user", "message"]
    raw_id_fields = ["user", "message"]


@admin.register(ChunkPerformance)
class ChunkPerformanceAdmin(admin.ModelAdmin):
    """Derived by the rollup: read-only here, recomputed by the action below or `manage.py rollup_chunk_performance`."""

    list_display = ["chunk_id", "project", "times_used", "helpful_count", "not_helpful_count", "needs_scripts_count",
                    "needs_examples_count", "needs_steps_count", "needs_case_study_count", "copy_to_use_now_count",
                    "satisfaction_rate", "updated_at"]
    list_filter = ["project"]
    search_fields = ["chunk_id"]
    list_select_related = ["project"]
    actions = ["recompute_all"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Recompute every chunk from the events (full rollup)")
    def recompute_all(self, request, queryset):
        from ..quality import rollup_chunk_performance

        summary = rollup_chunk_performance(full=True)
        self.message_user(request, f"Recomputed {summary['chunks_recomputed']} chunks.", messages.SUCCESS)


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(admin.ModelAdmin):
    list_display = ["name", "processed_until", "last_run_at", "last_run_chunks"]
    readonly_fields = ["name", "processed_until", "last_run_at", "last_run_chunks"]

    def has_add_permission(self, request):
        return False
