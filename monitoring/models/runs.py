"""Workflow runs: reports, executions and metrics (the first three monitoring tables)."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Avg, Count, Q
from django.utils import timezone

from .environments import environment_field, validate_environment


def new_report_id() -> str:
    return f"rpt_{timezone.now():%Y%m%d}_{secrets.token_hex(5)}"


class ReportType(models.TextChoices):
    DAILY = "daily", "Daily"
    ON_DEMAND = "on_demand", "On demand"


class MonitoringReport(models.Model):
    """Totals for a time window; the executions it covers point at it through `report_id` (its natural key)."""

    report_id = models.CharField(max_length=64, unique=True, default=new_report_id, editable=False)
    report_type = models.CharField(max_length=16, choices=ReportType.choices, default=ReportType.ON_DEMAND)
    environment = models.CharField(
        max_length=32, blank=True, default="", validators=[validate_environment],
        help_text="The environment the report covers; empty for all of them",
    )
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    total_runs = models.PositiveIntegerField(default=0)
    successful_runs = models.PositiveIntegerField(default=0)
    failed_runs = models.PositiveIntegerField(default=0)
    total_duration_ms = models.BigIntegerField(default=0)
    avg_duration_ms = models.FloatField(default=0)
    success_rate = models.FloatField(default=0, help_text="Percent of finished runs that succeeded (0–100)")
    # [{"workflow_name", "project", "total", "successful", "failed", "avg_duration_ms", "success_rate"}, …]
    workflow_breakdown = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    generated_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "monitoring_reports"
        ordering = ["-generated_at", "-id"]
        permissions = [("view_monitoring", "Can open the monitoring dashboard")]
        constraints = [
            models.CheckConstraint(condition=Q(report_type__in=ReportType.values), name="report_type_valid"),
            models.CheckConstraint(condition=Q(end_time__gt=models.F("start_time")), name="report_window_valid"),
            # Two daemons building the same day's report: the second insert fails instead of duplicating it.
            models.UniqueConstraint(
                fields=["start_time"], condition=Q(report_type="daily"), name="report_one_daily_per_day"
            ),
        ]

    def __str__(self):
        return self.report_id


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


FINISHED_STATUSES = [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED]


class RunAlert(models.TextChoices):
    """What the daemon concluded about a finished run (null while it runs)."""

    PENDING = "PENDING", "Not yet evaluated"
    NONE = "NONE", "Nothing to announce"
    FAILURE = "FAILURE", "Failure alerted"
    RECOVERY = "RECOVERY", "Recovery announced"


class WorkflowExecutionQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def workflow(self, name):
        return self.filter(workflow_name=name)

    def since(self, moment):
        return self.filter(started_at__gte=moment)

    def between(self, start, end):
        return self.filter(started_at__gte=start, started_at__lt=end)

    def finished(self):
        return self.filter(status__in=FINISHED_STATUSES)

    def failed(self):
        return self.filter(status=RunStatus.FAILED)

    def succeeded(self):
        return self.filter(status=RunStatus.SUCCESS)

    def running(self):
        return self.filter(status=RunStatus.RUNNING)

    def awaiting_alert_evaluation(self):
        return self.filter(alert_state=RunAlert.PENDING)

    def totals(self):
        """Totals for a report: runs, successes, failures, summed and average duration of finished runs."""
        from django.db.models import Sum

        return self.aggregate(
            total=Count("id"),
            successful=Count("id", filter=Q(status=RunStatus.SUCCESS)),
            failed=Count("id", filter=Q(status=RunStatus.FAILED)),
            finished=Count("id", filter=Q(status__in=FINISHED_STATUSES)),
            total_duration_ms=Sum("duration_ms"),
            avg_duration_ms=Avg("duration_ms"),
        )


class WorkflowExecution(models.Model):
    """One run of a workflow, reported by the integrating service: started, then finished (paired by run_id)."""

    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="workflow_executions")
    run_id = models.CharField(max_length=128, help_text="Client-chosen id that pairs a run's start with its finish")
    workflow_name = models.CharField(max_length=200)
    environment = environment_field()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    tests_passed = models.PositiveIntegerField(null=True, blank=True)
    tests_failed = models.PositiveIntegerField(null=True, blank=True)
    tests_total = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    error_stack = models.TextField(null=True, blank=True)
    triggered_by = models.CharField(max_length=100, null=True, blank=True)
    report = models.ForeignKey(
        MonitoringReport,
        to_field="report_id",
        db_column="report_id",
        null=True,
        blank=True,
        on_delete=models.DB_SET_NULL,
        related_name="executions",
    )
    alert_state = models.CharField(max_length=16, choices=RunAlert.choices, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowExecutionQuerySet.as_manager()

    class Meta:
        db_table = "workflow_executions"
        verbose_name = "workflow run"  # what every page and URL calls it (runs/<pk>/)
        ordering = ["-started_at", "-id"]
        indexes = [
            # The overview's time-window aggregates read only this index (index-only scan; key columns rather
            # than INCLUDE so SQLite builds the same index).
            models.Index(
                fields=["started_at", "project", "workflow_name", "environment", "status", "duration_ms"],
                name="execution_started_cover",
            ),
            # Last run of a workflow, a workflow's history.
            models.Index(fields=["project", "workflow_name", "-started_at"], name="execution_workflow_started"),
            models.Index(fields=["status", "-started_at"], name="execution_status_started"),
            # The dashboards' "anything changed since?" poll reads max(updated_at).
            models.Index(fields=["updated_at"], name="execution_updated"),
            # The daemon's queue of finished runs still to evaluate for alerts.
            models.Index(fields=["completed_at"], condition=Q(alert_state="PENDING"), name="execution_alert_pending"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "run_id"], name="execution_one_per_run_id"),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="execution_status_valid"),
            models.CheckConstraint(
                condition=Q(alert_state__isnull=True) | Q(alert_state__in=RunAlert.values), name="execution_alert_valid"
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=models.F("started_at")),
                name="execution_completed_after_start",
            ),
            models.CheckConstraint(
                condition=Q(duration_ms__isnull=True) | Q(duration_ms__gte=0), name="execution_duration_positive"
            ),
        ]

    def __str__(self):
        return f"{self.workflow_name} #{self.run_id} ({self.status})"


class WorkflowMetrics(models.Model):
    """A measurement posted by a workflow (e.g. build_time 84 s, threshold 120 s)."""

    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="workflow_metrics")
    workflow_id = models.CharField(max_length=200, help_text="The workflow's name")
    metric_name = models.CharField(max_length=100)
    metric_value = models.FloatField()
    metric_unit = models.CharField(max_length=32, null=True, blank=True)
    threshold_value = models.FloatField(null=True, blank=True)
    is_within_threshold = models.BooleanField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    execution = models.ForeignKey(
        WorkflowExecution, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="metrics"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workflow_metrics"
        verbose_name_plural = "workflow metrics"
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["workflow_id", "metric_name", "-recorded_at"], name="metric_workflow_name_time")]
        constraints = [
            # A retried POST of the same measurement (same moment) is stored once.
            models.UniqueConstraint(
                fields=["project", "workflow_id", "metric_name", "recorded_at"], name="metric_one_per_moment"
            ),
        ]

    def __str__(self):
        return f"{self.workflow_id}.{self.metric_name} = {self.metric_value}"


class ReportRun(models.Model):
    """A run a report counted, as it was when the report was built: the report's totals are counts of these rows,
    so the runs a report lists always add up to its totals (a daily report's runs included)."""

    report = models.ForeignKey(
        MonitoringReport, to_field="report_id", db_column="report_id", on_delete=models.DB_CASCADE, related_name="runs"
    )
    execution = models.ForeignKey(WorkflowExecution, on_delete=models.DB_CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    workflow_name = models.CharField(max_length=200)
    environment = models.CharField(max_length=32)
    run_id = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    started_at = models.DateTimeField()
    duration_ms = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_report_runs"
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["report", "execution"], name="report_run_once")]
        indexes = [models.Index(fields=["report", "status", "-started_at"], name="report_run_status")]

    def __str__(self):
        return f"{self.report_id}: {self.workflow_name} #{self.run_id} ({self.status})"
