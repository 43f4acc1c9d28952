"""Admin for the six monitoring tables: searchable, filterable; bulk actions only where they are safe."""

from django.contrib import admin

from projects.admin import AuditedAdmin

from . import actions
from .models import (
    HealthCheck,
    MonitoringReport,
    NotificationLog,
    ReportRun,
    SchedulePing,
    SystemHealthCheck,
    WorkflowAnomaly,
    WorkflowAnomalySettings,
    WorkflowDailyStats,
    WorkflowExecution,
    WorkflowMetrics,
    WorkflowSchedule,
)


@admin.register(MonitoringReport)
class MonitoringReportAdmin(admin.ModelAdmin):
    list_display = ["report_id", "report_type", "start_time", "end_time", "total_runs", "failed_runs", "success_rate", "notified_at"]
    list_filter = ["report_type", "generated_at"]
    search_fields = ["report_id"]
    date_hierarchy = "generated_at"
    readonly_fields = ["report_id", "created_at", "updated_at"]


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(admin.ModelAdmin):
    list_display = ["workflow_name", "run_id", "project", "environment", "status", "started_at", "duration_ms", "tests_failed", "alert_state"]
    list_filter = ["environment", "status", "alert_state", "project", "started_at"]
    search_fields = ["workflow_name", "run_id", "error_message", "triggered_by"]
    date_hierarchy = "started_at"
    list_select_related = ["project"]
    raw_id_fields = ["report"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False  # counting millions of rows on every page is slow


@admin.register(WorkflowMetrics)
class WorkflowMetricsAdmin(admin.ModelAdmin):
    list_display = ["workflow_id", "metric_name", "metric_value", "metric_unit", "threshold_value", "is_within_threshold", "recorded_at"]
    list_filter = ["is_within_threshold", "metric_name", "project"]
    search_fields = ["workflow_id", "metric_name"]
    raw_id_fields = ["execution"]
    show_full_result_count = False


@admin.register(HealthCheck)
class HealthCheckAdmin(AuditedAdmin):
    """One row per check: its configuration and when it is due."""

    list_display = ["check_name", "check_id", "environment", "method", "url", "expected_status", "interval_seconds", "paused", "due_at", "alert_state"]
    list_filter = ["environment", "paused", "alert_state", "method"]
    search_fields = ["check_id", "check_name", "url"]
    readonly_fields = ["claimed_by", "claimed_at", "created_at", "updated_at"]
    actions = ["run_now"]

    @admin.action(description="Run selected checks now")
    def run_now(self, request, queryset):
        n = actions.run_checks_now(queryset.select_related("project"))
        self.message_user(request, f"{n} check(s) due now; the daemon runs them on its next pass.")


@admin.register(SystemHealthCheck)
class SystemHealthCheckAdmin(admin.ModelAdmin):
    """The result history: written by the daemon, so read-only here."""

    list_display = ["check_name", "check_id", "status", "actual_status", "response_time_ms", "checked_at"]
    list_filter = ["status", "checked_at"]
    search_fields = ["check_id", "check_name", "error_message"]
    raw_id_fields = ["execution", "health_check"]
    date_hierarchy = "checked_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationLog)
class NotificationLogAdmin(admin.ModelAdmin):
    """Monitoring's view of the one delivery log (outbound's admin lists every stream)."""

    list_display = ["subject", "event_type", "channel", "attempt", "state", "sent_at", "created_at"]
    list_filter = ["state", "channel", "event_type"]
    search_fields = ["delivery_id", "subject", "source_id", "target", "error"]
    readonly_fields = ["delivery_key", "claimed_by", "claimed_at", "created_at"]
    date_hierarchy = "created_at"


@admin.register(WorkflowSchedule)
class WorkflowScheduleAdmin(AuditedAdmin):
    list_display = ["workflow_name", "project", "environment", "cron_expression", "timezone", "status", "alert_state", "last_run_at", "next_run_at", "run_count", "failure_count"]
    list_filter = ["environment", "status", "alert_state", "project"]
    search_fields = ["workflow_name", "schedule_id"]
    readonly_fields = ["schedule_id", "ping_token", "created_at", "updated_at"]


@admin.register(SchedulePing)
class SchedulePingAdmin(admin.ModelAdmin):
    """What ping URLs received (written only by the ping URL, so read-only here)."""

    list_display = ["schedule", "kind", "received_at", "method", "remote_addr", "exit_status", "body_truncated"]
    list_filter = ["kind", "method", "received_at"]
    search_fields = ["schedule__workflow_name", "schedule__schedule_id", "body", "user_agent"]
    date_hierarchy = "received_at"
    list_select_related = ["schedule"]
    raw_id_fields = ["schedule", "execution"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkflowDailyStats)
class WorkflowDailyStatsAdmin(admin.ModelAdmin):
    """Derived from the runs (rebuild with `manage.py monitor --rebuild-stats`), so read-only here."""

    list_display = ["workflow_name", "project", "day", "successful_runs", "failed_runs", "cancelled_runs", "timed_runs"]
    list_filter = ["day", "project"]
    search_fields = ["workflow_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkflowAnomaly)
class WorkflowAnomalyAdmin(admin.ModelAdmin):
    list_display = ["workflow_name", "environment", "kind", "status", "reason", "opened_at", "cleared_at"]
    list_filter = ["kind", "status", "environment"]
    search_fields = ["workflow_name", "reason"]
    raw_id_fields = ["execution"]
    date_hierarchy = "opened_at"


@admin.register(WorkflowAnomalySettings)
class WorkflowAnomalySettingsAdmin(AuditedAdmin):
    list_display = ["workflow_name", "project", "environment", "sensitivity", "updated_at"]
    list_filter = ["sensitivity", "environment"]
    search_fields = ["workflow_name"]


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    """Which runs each report counted: read-only, written by the report builder."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
