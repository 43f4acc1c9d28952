from django.contrib import admin

from .models import ApiKey, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    autocomplete_fields = ["created_by"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email", "project__name", "project__slug"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user", "project"]


# --- API keys --------------------------------------------------------------------------------------


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Prefixes only: the hash is never displayed, and keys are created in project Settings (shown once there)."""

    list_display = ["name", "project", "key_prefix", "scope", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "project__name", "project__slug"]
    list_select_related = ["project", "created_by"]
    date_hierarchy = "created_at"
    fields = ["name", "project", "key_prefix", "scope", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["project", "key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="Key", ordering="prefix")
    def key_prefix(self, obj):
        return f"ah_{obj.prefix}_…"

    def has_add_permission(self, request):
        return False  # a key made here could never be shown to anyone

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} key(s) revoked.")
