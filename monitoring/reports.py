"""Building a MonitoringReport: totals, success rate, average duration and a per-workflow breakdown for a window,
stored atomically with the links from the executions it covers."""

from datetime import UTC, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q, Sum
from django.dispatch import Signal
from django.utils import timezone

from projects.models import Project

from . import alerts
from .models import MonitoringReport, ReportRun, ReportType, RunStatus, WorkflowExecution
from .notify import enqueue

# Sent inside the report's transaction, after its executions are linked: a receiver that raises undoes it all.
report_built = Signal()


def _rate(successful, failed):
    decided = successful + failed
    return round(100.0 * successful / decided, 2) if decided else 0.0


SNAPSHOT_FIELDS = ["id", "project_id", "workflow_name", "environment", "run_id", "status", "started_at", "duration_ms",
                   "error_message"]


def build_report(start, end, report_type=ReportType.ON_DEMAND, requested_by=None, notify=True, environment=""):
    """Create the report for [start, end) (one environment, or all when empty), all or nothing.

    Every run started in the window is counted, whichever report it is linked to, and recorded in the report's
    run list (monitoring_report_runs) as it is now; the totals are counted from that list, so they always equal
    the runs the report shows. A daily report owns its day's runs (report_id on the run); an on-demand report
    sets report_id only on runs no report covers yet.
    """
    with transaction.atomic():
        runs = WorkflowExecution.objects.between(start, end)
        if environment:
            runs = runs.filter(environment=environment)
        report = MonitoringReport.objects.create(
            report_type=report_type, environment=environment, start_time=start, end_time=end,
            requested_by=requested_by, generated_at=timezone.now(),
        )
        batch = []
        for row in runs.order_by().values_list(*SNAPSHOT_FIELDS).iterator(chunk_size=5000):
            values = dict(zip(SNAPSHOT_FIELDS, row, strict=True))
            batch.append(ReportRun(report=report, execution_id=values.pop("id"), **values))
            if len(batch) >= 5000:
                ReportRun.objects.bulk_create(batch)
                batch = []
        ReportRun.objects.bulk_create(batch)
        _count(report)
        if report_type == ReportType.DAILY:
            to_link = runs.exclude(report__report_type=ReportType.DAILY)
        else:
            to_link = runs.filter(report__isnull=True)
        to_link.update(report=report)
        if notify:
            enqueue(notice=alerts.report_ready(report), dedupe_key=f"report:{report.report_id}", report=report)
        report_built.send(sender=MonitoringReport, report=report)
    return report


def _count(report):
    """Totals and the per-workflow breakdown, counted from the report's own run list."""
    listed = ReportRun.objects.filter(report=report)
    totals = listed.aggregate(
        total=Count("id"),
        successful=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        failed=Count("id", filter=Q(status=RunStatus.FAILED)),
        total_duration_ms=Sum("duration_ms"),
        avg_duration_ms=Avg("duration_ms"),
    )
    names = dict(Project.objects.values_list("id", "name"))
    report.workflow_breakdown = [
        {
            "project": names.get(row["project_id"], "?"),
            "workflow_name": row["workflow_name"],
            "environment": row["environment"],
            "total": row["total"],
            "successful": row["successful"],
            "failed": row["failed"],
            "avg_duration_ms": round(row["avg_duration_ms"] or 0, 1),
            "success_rate": _rate(row["successful"], row["failed"]),
        }
        for row in listed.values("project_id", "workflow_name", "environment").annotate(
            total=Count("id"),
            successful=Count("id", filter=Q(status=RunStatus.SUCCESS)),
            failed=Count("id", filter=Q(status=RunStatus.FAILED)),
            avg_duration_ms=Avg("duration_ms"),
        ).order_by("workflow_name", "project_id", "environment")
    ]
    report.total_runs = totals["total"]
    report.successful_runs = totals["successful"]
    report.failed_runs = totals["failed"]
    report.total_duration_ms = totals["total_duration_ms"] or 0
    report.avg_duration_ms = round(totals["avg_duration_ms"] or 0, 1)
    report.success_rate = _rate(totals["successful"], totals["failed"])
    report.save()


def daily_window(now):
    """The previous UTC day: [yesterday 00:00, today 00:00)."""
    end = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    return end - timedelta(days=1), end


def build_daily_report_if_due(now):
    """Build yesterday's daily report unless it exists; two daemons racing produce one (unique constraint)."""
    start, end = daily_window(now)
    if MonitoringReport.objects.filter(report_type=ReportType.DAILY, start_time=start).exists():
        return None
    try:
        return build_report(start, end, ReportType.DAILY)
    except IntegrityError:
        return None  # another daemon built it a moment ago
