"""Building a MonitoringReport: totals, success rate, average duration and a per-workflow breakdown for a window,
stored atomically with the links from the executions it covers."""

from datetime import UTC, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from projects.durations import format_duration
from projects.models import Project

from .models import MonitoringReport, NotificationType, ReportType, WorkflowExecution
from .notify import enqueue

# Sent inside the report's transaction, after its executions are linked: a receiver that raises undoes it all.
report_built = Signal()


def _rate(successful, failed):
    decided = successful + failed
    return round(100.0 * successful / decided, 2) if decided else 0.0


def build_report(start, end, report_type=ReportType.ON_DEMAND, requested_by=None, notify=True):
    """Create the report for [start, end) and link its executions, all or nothing.

    A daily report owns its day's runs (it takes them over from on-demand reports); an on-demand report links
    only runs no report covers yet. Totals are computed inside the same transaction as the links.
    """
    with transaction.atomic():
        runs = WorkflowExecution.objects.between(start, end)
        totals = runs.totals()
        names = dict(Project.objects.values_list("id", "name"))
        breakdown = [
            {
                "project": names.get(row["project_id"], "?"),
                "workflow_name": row["workflow_name"],
                "total": row["total"],
                "successful": row["successful"],
                "failed": row["failed"],
                "avg_duration_ms": round(row["avg_duration_ms"] or 0, 1),
                "success_rate": _rate(row["successful"], row["failed"]),
            }
            for row in runs.per_workflow()
        ]
        report = MonitoringReport.objects.create(
            report_type=report_type,
            start_time=start,
            end_time=end,
            total_runs=totals["total"],
            successful_runs=totals["successful"],
            failed_runs=totals["failed"],
            total_duration_ms=totals["total_duration_ms"] or 0,
            avg_duration_ms=round(totals["avg_duration_ms"] or 0, 1),
            success_rate=_rate(totals["successful"], totals["failed"]),
            workflow_breakdown=breakdown,
            requested_by=requested_by,
            generated_at=timezone.now(),
        )
        if report_type == ReportType.DAILY:
            to_link = runs.exclude(report__report_type=ReportType.DAILY)
        else:
            to_link = runs.filter(report__isnull=True)
        to_link.update(report=report)
        if notify:
            enqueue(
                NotificationType.REPORT,
                subject=f"{report.get_report_type_display()} monitoring report: {report.success_rate:g}% success",
                message=(
                    f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC: {report.total_runs} runs, "
                    f"{report.successful_runs} succeeded, {report.failed_runs} failed, "
                    f"average {format_duration(report.avg_duration_ms)}."
                ),
                dedupe_key=f"report:{report.report_id}",
                payload={"report_id": report.report_id, "success_rate": report.success_rate},
                report=report,
            )
        report_built.send(sender=MonitoringReport, report=report)
    return report


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
