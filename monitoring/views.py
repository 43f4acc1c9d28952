"""Monitoring pages for managers. Every view goes through `manager_required` (monitoring/access.py).
A page and its live-refresh fragment are one view: htmx polling asks for the `#live` partial."""

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .access import manager_required
from .forms import HealthCheckForm, NotificationFilter, ReportForm, ScheduleForm
from .models import (
    CheckStatus,
    MonitoringReport,
    NotificationLog,
    ScheduleStatus,
    SystemHealthCheck,
    WorkflowExecution,
    WorkflowSchedule,
)
from .models.health import OPEN_STATUSES
from .notify import configured_destinations
from .reports import build_report
from .stats import health_board, summary, workflow_overview


def _page(request, template, context, tab, status=200):
    # htmx polling (hx-get on the #live block) asks for the fragment; anything else gets the whole page.
    if request.htmx:
        template = f"{template}#live"
    return render(request, template, {**context, "active_tab": tab, "alert_channels": configured_destinations()},
                  status=status)


@require_GET
@manager_required
def overview(request):
    now = timezone.now()
    workflows = workflow_overview(now)
    undelivered = NotificationLog.objects.undelivered().filter(created_at__gte=now - timedelta(days=7)).count()
    return _page(request, "monitoring/overview.html", {
        "workflows": workflows,
        "summary": summary(workflows, undelivered),
        "now": now,
    }, "overview")


@require_http_methods(["GET", "POST"])
@manager_required
def schedules(request):
    form = ScheduleForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            schedule = form.save()
            messages.success(request, f"Schedule for {schedule.workflow_name} created; next run {schedule.next_run_at:%Y-%m-%d %H:%M} UTC.")
            return redirect("monitoring:schedules")
    rows = WorkflowSchedule.objects.select_related("project").order_by("workflow_name", "project__name")
    return _page(request, "monitoring/schedules.html", {"schedules": rows, "form": form}, "schedules",
                 status=422 if form.errors else 200)


@require_POST
@manager_required
def schedule_toggle(request, schedule_id):
    schedule = get_object_or_404(WorkflowSchedule, schedule_id=schedule_id)
    if schedule.status == ScheduleStatus.ACTIVE:
        schedule.status, schedule.next_run_at = ScheduleStatus.PAUSED, None
    else:
        schedule.status, schedule.next_run_at = ScheduleStatus.ACTIVE, None  # recomputed from now on save
    schedule.save()
    messages.success(request, f"Schedule for {schedule.workflow_name} {schedule.get_status_display().lower()}.")
    return redirect("monitoring:schedules")


@require_POST
@manager_required
def schedule_delete(request, schedule_id):
    schedule = get_object_or_404(WorkflowSchedule, schedule_id=schedule_id)
    schedule.delete()
    messages.success(request, f"Schedule for {schedule.workflow_name} deleted; its runs are kept.")
    return redirect("monitoring:schedules")


@require_http_methods(["GET", "POST"])
@manager_required
def health(request):
    form = HealthCheckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = form.save()
        messages.success(request, f"Health check {check.check_name} added; the daemon runs it within seconds.")
        return redirect("monitoring:health")
    return _page(request, "monitoring/health.html", {"board": health_board(), "form": form}, "health",
                 status=422 if form.errors else 200)


@require_GET
@manager_required
def health_detail(request, check_id):
    results = SystemHealthCheck.objects.for_check(check_id)
    current = results.filter(status__in=OPEN_STATUSES).first()
    history = list(results.results().order_by("-checked_at", "-id")[:100])
    if current is None and not history:
        from django.http import Http404

        raise Http404("No such health check.")
    return _page(request, "monitoring/health_detail.html", {"current": current, "history": history, "check_id": check_id}, "health")


@require_POST
@manager_required
def health_toggle(request, check_id):
    check = get_object_or_404(SystemHealthCheck, check_id=check_id, status__in=[CheckStatus.PENDING, CheckStatus.PAUSED])
    if check.status == CheckStatus.PAUSED:
        SystemHealthCheck.objects.filter(pk=check.pk, status=CheckStatus.PAUSED).update(
            status=CheckStatus.PENDING, due_at=timezone.now()
        )
        messages.success(request, f"{check.check_name} resumed.")
    else:
        SystemHealthCheck.objects.filter(pk=check.pk, status=CheckStatus.PENDING).update(status=CheckStatus.PAUSED)
        messages.success(request, f"{check.check_name} paused.")
    return redirect("monitoring:health")


@require_POST
@manager_required
def health_delete(request, check_id):
    deleted, _ = SystemHealthCheck.objects.filter(check_id=check_id, status__in=[CheckStatus.PENDING, CheckStatus.PAUSED]).delete()
    if not deleted:
        messages.error(request, "That check is running right now (or no longer exists); try again in a moment.")
    else:
        messages.success(request, "Health check removed; its past results are kept.")
    return redirect("monitoring:health")


@require_http_methods(["GET", "POST"])
@manager_required
def reports(request):
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        end = timezone.now()
        report = build_report(end - timedelta(hours=form.cleaned_data["hours"]), end, requested_by=request.user)
        messages.success(request, f"Report {report.report_id} generated.")
        return redirect("monitoring:report_detail", report_id=report.report_id)
    page = Paginator(MonitoringReport.objects.all(), 25).get_page(request.GET.get("page"))
    return _page(request, "monitoring/reports.html", {"page": page, "form": form}, "reports", status=422 if form.errors else 200)


@require_GET
@manager_required
def report_detail(request, report_id):
    report = get_object_or_404(MonitoringReport, report_id=report_id)
    failed = report.executions.select_related("project").failed().order_by("-started_at")[:50]
    return _page(request, "monitoring/report_detail.html", {
        "report": report,
        "failed_runs": failed,
        "linked_runs": report.executions.count(),
        "notifications": report.notification_logs.order_by("created_at", "id"),
    }, "reports")


@require_GET
@manager_required
def run_detail(request, pk):
    run = get_object_or_404(WorkflowExecution.objects.select_related("project", "report"), pk=pk)
    return _page(request, "monitoring/run_detail.html", {
        "run": run,
        "metrics": run.metrics.order_by("metric_name", "-recorded_at"),
        "notifications": run.notification_logs.order_by("created_at", "id"),
        "recent": WorkflowExecution.objects.filter(project_id=run.project_id, workflow_name=run.workflow_name)
        .filter(~Q(pk=run.pk)).order_by("-started_at")[:20],
    }, "overview")


@require_GET
@manager_required
def notifications(request):
    filterset = NotificationFilter(request.GET, queryset=NotificationLog.objects.select_related("execution"))
    rows = filterset.qs if filterset.is_valid() else NotificationLog.objects.none()
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return _page(request, "monitoring/notifications.html",
                 {"filter": filterset, "page": page, "filter_query": query.urlencode()}, "notifications")
