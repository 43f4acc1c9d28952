from django.contrib import admin

from .models import PeriodicJob, ProcessHeartbeat


@admin.register(PeriodicJob)
class PeriodicJobAdmin(admin.ModelAdmin):
    list_display = ["name", "next_run_at", "last_enqueued_at", "enqueued_count", "skipped_count", "overrun_count",
                    "last_task_id"]
    readonly_fields = ["last_enqueued_at", "last_task_id", "enqueued_count", "skipped_count", "overrun_count",
                       "claimed_by", "claimed_at"]
    search_fields = ["name"]


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["role", "hostname", "pid", "beat_at", "task_name", "task_started_at", "task_deadline_at",
                    "tasks_done", "started_at"]
    list_filter = ["role", "hostname"]
    search_fields = ["process_id", "hostname", "task_name", "task_id"]

    def has_add_permission(self, request):
        return False  # rows belong to running processes
