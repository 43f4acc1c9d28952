from django.contrib import admin

from . import actions
from .models import ApiKey, AuditStream, Membership, Project


class AuditedAdmin(admin.ModelAdmin):
    """A staff member's save or delete in the admin is recorded in the project's audit trail (projects/actions.py),
    with what the form changed. `audit_project(obj)` names the project an object belongs to."""

    def audit_project(self, obj):
        return getattr(obj, "project", None)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or form.changed_data:
            actions.admin_saved(obj, project=self.audit_project(obj), form=form, created=not change)

    def delete_model(self, request, obj):
        project = self.audit_project(obj)
        super().delete_model(request, obj)
        if project is not None and not isinstance(obj, Project):
            actions.admin_deleted(obj, project=project)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        project = self.audit_project(form.instance)
        for inline in formset.forms:
            if inline.instance.pk and inline.has_changed() and inline.instance not in formset.deleted_objects:
                actions.admin_saved(inline.instance, project=project, form=inline,
                                    created=inline.instance in formset.new_objects)
        for obj in formset.deleted_objects:
            actions.admin_deleted(obj, project=project)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    autocomplete_fields = ["created_by"]

    def audit_project(self, obj):
        return obj


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email", "project__name", "project__slug"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user", "project"]


# --- API keys --------------------------------------------------------------------------------------


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
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
        count = actions.revoke_api_keys(queryset)
        self.message_user(request, f"{count} key(s) revoked.")


# --- audit streams ---------------------------------------------------------------------------------


@admin.register(AuditStream)
class AuditStreamAdmin(AuditedAdmin):
    """Read-only: owners set streams up on the project's Settings (the secret is shown there once, never here; the
    URL by its host only). Deleting one here is the Settings page's Remove, audited the same way."""

    list_display = ["project", "host", "paused", "sent_sequence", "last_delivered_at", "created_at"]
    list_filter = ["paused", "created_at"]
    search_fields = ["project__name", "project__slug"]
    list_select_related = ["project"]
    fields = ["project", "host", "paused", "paused_reason", "sent_sequence", "batches", "last_delivered_at",
              "created_by", "created_at"]
    readonly_fields = ["project", "host", "paused", "paused_reason", "sent_sequence", "batches", "last_delivered_at",
                       "created_by", "created_at"]

    @admin.display(description="Sends to")
    def host(self, obj):
        return obj.host

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        actions.delete_audit_stream(obj)
