"""Monitoring pages for managers. Every view goes through `manager_required` (monitoring/access.py).
A page and its live-refresh fragment are one view: htmx polling asks for the `#live` partial."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lib.htmx import HtmxHttpRequest, already_gone
from projects.models import Membership

from . import actions
from .access import manager_required
from .cron import CronError, describe, fire_time, next_fires, validate_cron, validate_timezone
from .forms import (
    CronPreviewForm,
    EnvironmentFilter,
    HealthCheckEditForm,
    HealthCheckForm,
    NotificationFilter,
    ReportForm,
    ScheduleForm,
    SensitivityForm,
)
from .models import (
    HealthCheck,
    MonitoringReport,
    NotificationLog,
    Sensitivity,
    SystemHealthCheck,
    WorkflowAnomaly,
    WorkflowAnomalySettings,
    WorkflowExecution,
    WorkflowSchedule,
)
from .notify import configured_destinations
from .ping import cron_line, ping_url, wrapped_cron_line
from .reports import build_report
from .stats import change_token, health_board, summary, workflow_overview, workflow_spread


def selected_environment(request):
    """The ?environment= of the page ("" for all); a name no run, schedule or check uses is a 400."""
    filterset = EnvironmentFilter(request.GET, queryset=WorkflowSchedule.objects.none())
    if not filterset.is_valid():
        raise BadRequest(f"Unknown environment {request.GET.get('environment', '')!r}: pick one from the list.")
    return filterset.form.cleaned_data.get("environment") or ""


def _is_member(request, project_id) -> bool:
    """Watching is personal and per project (notifications' rule): a manager sees a Watch button only where they
    are a member; the watch endpoint itself answers 404 to anyone else."""
    return Membership.objects.filter(user=request.user, project_id=project_id).exists()


def _page(request: HtmxHttpRequest, template, context, tab, status=200, partial="live"):
    # htmx polling (hx-get on the #live block) asks for the fragment; anything else gets the whole page.
    if request.htmx and partial:
        template = f"{template}#{partial}"
    environment = context.get("environment")
    if environment is None:
        environment = selected_environment(request)
    env_filter = None if context.get("hide_env_switch") else EnvironmentFilter(
        {"environment": environment}, queryset=WorkflowSchedule.objects.none()
    )
    return render(request, template, {
        **context, "active_tab": tab, "environment": environment, "env_filter": env_filter,
        "env_query": f"?environment={environment}" if environment else "", "alert_channels": configured_destinations(),
    }, status=status)


@require_GET
@manager_required
def changes(request):
    """The dashboards' cheap poll: 204 while nothing changed since `since`; otherwise a new poller (with the new
    token) and an HX-Trigger that makes the page refetch its live block once."""
    token = change_token()
    if request.GET.get("since") == token:
        return HttpResponse(status=204)
    response = render(request, "monitoring/_changes.html", {"token": token})
    response["HX-Trigger"] = "monitoring-changed"
    return response


@require_GET
@manager_required
def overview(request):
    now = timezone.now()
    environment = selected_environment(request)
    workflows = workflow_overview(now, environment or None)
    undelivered = NotificationLog.objects.undelivered().filter(created_at__gte=now - timedelta(days=7))
    if environment:
        undelivered = undelivered.filter(payload__environment=environment)
    return _page(request, "monitoring/overview.html", {
        "change_token": change_token(),
        "workflows": workflows,
        "summary": summary(workflows, undelivered.count(), environment or None),
        "now": now,
        "environment": environment,
    }, "overview")


@require_http_methods(["GET", "POST"])
@manager_required
def schedules(request):
    environment = selected_environment(request)
    if _wants_cron_preview(request):
        return _cron_preview(request)
    form = ScheduleForm(request.POST or None, initial={"environment": environment or "production"})
    if request.method == "POST" and form.is_valid():
        schedule = actions.create_schedule(form.save(commit=False))
        messages.success(request, f"Schedule for {schedule.workflow_name} created; next run "
                         f"{schedule.next_run.words() if schedule.next_run else '— (paused)'}. "
                         "Its page shows the ping URL for your crontab.")
        return redirect("monitoring:schedule_detail", schedule_id=schedule.schedule_id)
    rows = WorkflowSchedule.objects.select_related("project").order_by("workflow_name", "project__name", "environment")
    if environment:
        rows = rows.filter(environment=environment)
    return _page(request, "monitoring/schedules.html", {
        "schedules": rows, "form": form, "environment": environment, "form_action": reverse("monitoring:schedules"),
        "preview": cron_preview_for(form),
    }, "schedules", status=422 if form.errors else 200)


@require_GET
@manager_required
def schedule_detail(request, schedule_id):
    """One schedule: its reading and next runs on its own clock and in UTC, its ping URL, what the URL received."""
    schedule = get_object_or_404(WorkflowSchedule.objects.select_related("project"), schedule_id=schedule_id)
    now = timezone.now()
    runs = WorkflowExecution.objects.filter(
        project_id=schedule.project_id, workflow_name=schedule.workflow_name, environment=schedule.environment
    ).order_by("-started_at", "-id")
    return _page(request, "monitoring/schedule_detail.html", {
        "schedule": schedule,
        "now": now,
        "preview": cron_preview(schedule.cron_expression, schedule.timezone, now),
        "ping_url": ping_url(schedule, request),
        "ping_start_url": ping_url(schedule, request, "start"),
        "ping_fail_url": ping_url(schedule, request, "fail"),
        "cron_line": f"{schedule.cron_expression}  /path/to/job.sh && {cron_line(schedule, request)}",
        "wrapped_cron_line": wrapped_cron_line(schedule, request=request),
        "ping_rate_limit": settings.PING_RATE_LIMIT,
        "ping_body_limit": settings.PING_BODY_LIMIT_BYTES,
        "pings": schedule.pings.select_related("execution")[:20],
        "runs": runs[:10],
        "hide_env_switch": True,
        "can_watch": _is_member(request, schedule.project_id),
    }, "schedules", partial=None)


@require_POST
@manager_required
def schedule_ping_url(request, schedule_id):
    """A new secret for the ping URL: the old URL answers 404 from now on (after a leak)."""
    schedule = get_object_or_404(WorkflowSchedule, schedule_id=schedule_id)
    actions.rotate_schedule_ping_url(schedule)
    messages.success(request, f"{schedule.workflow_name} has a new ping URL; the old one no longer records runs. "
                     "Update the crontab line.")
    return _after_change(request, "monitoring:schedule_detail", schedule.schedule_id)


@require_http_methods(["GET", "POST"])
@manager_required
def schedule_edit(request, schedule_id):
    """Edit a schedule; while typing, the same view answers the htmx request for the cron reading."""
    schedule = get_object_or_404(WorkflowSchedule.objects.select_related("project"), schedule_id=schedule_id)
    if _wants_cron_preview(request):
        return _cron_preview(request)
    before = actions.snapshot(schedule, actions.SCHEDULE_FIELDS)
    form = ScheduleForm(request.POST or None, instance=schedule)
    if request.method == "POST" and form.is_valid():
        edited = actions.save_schedule(form.save(commit=False), before)
        messages.success(request, f"Schedule for {edited.workflow_name} saved; next run "
                         + (f"{edited.next_run.words()}." if edited.next_run else "— (paused)."))
        return redirect("monitoring:schedules")
    return _page(request, "monitoring/schedule_edit.html", {
        "schedule": schedule, "form": form, "form_action": reverse("monitoring:schedule_edit", args=[schedule_id]),
        "cancel_url": reverse("monitoring:schedules"), "preview": cron_preview_for(form),
    }, "schedules", status=422 if form.errors else 200, partial=None)


def _wants_cron_preview(request: HtmxHttpRequest):
    return request.method == "GET" and request.htmx and request.htmx.target == "cron-preview"


def cron_preview(expression, tz_name, now=None):
    """The plain-English reading and the next five runs (each on the schedule's clock and in UTC), or the error
    saying what is wrong."""
    try:
        expression = validate_cron(expression)
        validate_timezone(tz_name)
    except CronError as exc:
        return {"error": str(exc)}
    times = next_fires(expression, tz_name, now or timezone.now(), 5)
    return {"description": describe(expression), "timezone": tz_name,
            "times": [fire_time(t, tz_name) for t in times]}


def cron_preview_for(form):
    data = form.data if form.is_bound else {}
    instance = form.instance
    expression = data.get("cron_expression", form.initial.get("cron_expression", instance.cron_expression or ""))
    tz_name = data.get("timezone", form.initial.get("timezone", instance.timezone or "UTC"))
    return cron_preview(expression, tz_name) if expression else {}


def _cron_preview(request):
    form = CronPreviewForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    preview = cron_preview(data.get("cron_expression", ""), data.get("timezone") or "UTC")
    return render(request, "monitoring/schedule_form.html#cron_preview", {"preview": preview},
                  status=422 if "error" in preview else 200)


@require_POST
@manager_required
def schedule_toggle(request, schedule_id):
    schedule = WorkflowSchedule.objects.filter(schedule_id=schedule_id).first()
    if schedule is None:
        return _schedule_gone(request)
    actions.toggle_schedule(schedule)
    messages.success(request, f"Schedule for {schedule.workflow_name} {schedule.get_status_display().lower()}.")
    return _after_change(request, "monitoring:schedules")


@require_POST
@manager_required
def schedule_delete(request, schedule_id):
    schedule = WorkflowSchedule.objects.filter(schedule_id=schedule_id).first()
    if schedule is None:
        return _schedule_gone(request)
    actions.delete_schedule(schedule)
    messages.success(request, f"Schedule for {schedule.workflow_name} deleted; its runs are kept.")
    return _after_change(request, "monitoring:schedules")


@require_http_methods(["GET", "POST"])
@manager_required
def health(request):
    environment = selected_environment(request)
    form = HealthCheckForm(request.POST or None, initial={"environment": environment or "production"})
    if request.method == "POST" and form.is_valid():
        check = actions.create_health_check(form.save(commit=False))
        messages.success(request, f"Health check {check.check_name} added; the daemon runs it within seconds.")
        return redirect("monitoring:health")
    return _page(request, "monitoring/health.html", {
        "board": health_board(environment=environment or None), "form": form, "environment": environment,
    }, "health", status=422 if form.errors else 200)


@require_GET
@manager_required
def health_detail(request, pk):
    current = get_object_or_404(HealthCheck.objects.select_related("project"), pk=pk)
    history = list(current.results.order_by("-checked_at", "-id")[:100])
    return _page(request, "monitoring/health_detail.html",
                 {"current": current, "history": history, "check_id": current.check_id}, "health")


@require_GET
@manager_required
def removed_check_history(request, check_id):
    """The results a removed check left behind (kept, with no check to point at)."""
    history = list(SystemHealthCheck.objects.for_check(check_id).filter(health_check__isnull=True)
                   .order_by("-checked_at", "-id")[:100])
    if not history:
        raise Http404("No removed health check with that id.")
    return _page(request, "monitoring/health_detail.html", {"current": None, "history": history, "check_id": check_id},
                 "health")


@require_http_methods(["GET", "POST"])
@manager_required
def health_edit(request, pk):
    """Edit a check's URL, method, expectations, interval, environment or pause; validated as on creation."""
    check = get_object_or_404(HealthCheck.objects.select_related("project"), pk=pk)
    before = actions.snapshot(check, actions.CHECK_FIELDS)
    form = HealthCheckEditForm(request.POST or None, instance=check)
    if request.method == "POST" and form.is_valid():
        # Only the changed settings are saved: never the daemon's claim or alert state, which it may be writing now.
        edited = actions.save_health_check(form.save(commit=False), before)
        messages.success(request, f"Health check {edited.check_name} saved.")
        return redirect("monitoring:health")
    return _page(request, "monitoring/health_edit.html", {"check": check, "form": form, "hide_env_switch": True}, "health",
                 status=422 if form.errors else 200, partial=None)


@require_POST
@manager_required
def health_toggle(request, pk):
    check = HealthCheck.objects.filter(pk=pk).first()
    if check is None:
        return _check_gone(request)
    actions.toggle_health_check(check)
    messages.success(request, f"{check.check_name} {'paused' if check.paused else 'resumed'}.")
    return _after_change(request, "monitoring:health")


@require_POST
@manager_required
def health_delete(request, pk):
    check = HealthCheck.objects.filter(pk=pk).first()
    if check is None:
        return _check_gone(request)
    actions.delete_health_check(check)
    messages.success(request, f"Health check {check.check_name} removed; its past results are kept.")
    return _after_change(request, "monitoring:health")


def _schedule_gone(request):
    """A stale tab acting on a schedule someone already deleted: its row leaves the screen, with a notice."""
    return already_gone(request, "That schedule had already been deleted.", reverse("monitoring:schedules"))


def _check_gone(request):
    return already_gone(request, "That health check had already been removed.", reverse("monitoring:health"),
                        row="article")


def _after_change(request: HtmxHttpRequest, url_name, *args):
    """Back to the list; an htmx post (sent after its confirmation) is told to load it (HX-Redirect)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse(url_name, args=args)
        return response
    return redirect(url_name, *args)


@require_http_methods(["GET", "POST"])
@manager_required
def reports(request):
    environment = selected_environment(request)
    form = ReportForm(request.POST or None, initial={"environment": environment})
    if request.method == "POST" and form.is_valid():
        end = timezone.now()
        report = build_report(end - timedelta(hours=form.cleaned_data["hours"]), end, requested_by=request.user,
                              environment=form.cleaned_data["environment"])
        messages.success(request, f"Report {report.report_id} generated.")
        return redirect("monitoring:report_detail", report_id=report.report_id)
    rows = MonitoringReport.objects.all()
    if environment:
        rows = rows.filter(environment__in=[environment, ""])  # that environment's reports and those covering all
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    return _page(request, "monitoring/reports.html", {"page": page, "form": form, "environment": environment},
                 "reports", status=422 if form.errors else 200)


REPORT_RUN_STATUSES = {"SUCCESS", "FAILED", "CANCELLED", "RUNNING"}


@require_GET
@manager_required
def report_detail(request, report_id):
    """The report's totals above the very runs they count (paged; ?status= narrows the list to one outcome)."""
    report = get_object_or_404(MonitoringReport, report_id=report_id)
    status = request.GET.get("status", "")
    if status and status not in REPORT_RUN_STATUSES:
        raise BadRequest(f"Unknown status {status!r}: use one of {', '.join(sorted(REPORT_RUN_STATUSES))}.")
    listed = report.runs.select_related("project")
    if status:
        listed = listed.filter(status=status)
    page = Paginator(listed, 50).get_page(request.GET.get("page"))
    counts = dict(report.runs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return _page(request, "monitoring/report_detail.html", {
        "report": report,
        "page": page,
        "status": status,
        "status_counts": counts,
        "filter_query": f"status={status}" if status else "",
        "notifications": NotificationLog.objects.filter(source="report", source_id=report.report_id)
        .order_by("created_at", "id"),
    }, "reports")


@require_GET
@manager_required
def run_detail(request, pk):
    run = get_object_or_404(WorkflowExecution.objects.select_related("project", "report"), pk=pk)
    workflow = {"project_id": run.project_id, "workflow_name": run.workflow_name, "environment": run.environment}
    findings = list(WorkflowAnomaly.objects.filter(**workflow)[:10])
    settings_row = WorkflowAnomalySettings.objects.filter(**workflow).first()
    return _page(request, "monitoring/run_detail.html", {
        "change_token": change_token(),
        "findings": findings,
        "anomalous_runs": {f.execution_id for f in findings if f.execution_id},
        "sensitivity_form": SensitivityForm(initial={
            "project": run.project_id, "workflow_name": run.workflow_name, "environment": run.environment,
            "sensitivity": settings_row.sensitivity if settings_row else Sensitivity.NORMAL,
            "next": request.get_full_path(),
        }),
        "run": run,
        "can_watch": _is_member(request, run.project_id),
        "typical": workflow_spread(run.project_id, run.workflow_name, run.environment),
        "metrics": run.metrics.order_by("metric_name", "-recorded_at"),
        "notifications": NotificationLog.objects.filter(source="run", source_id=str(run.pk)).order_by("created_at", "id"),
        "recent": WorkflowExecution.objects.filter(**workflow)
        .filter(~Q(pk=run.pk)).order_by("-started_at")[:20],
    }, "overview")


@require_POST
@manager_required
def workflow_sensitivity(request):
    """How closely anomaly detection watches one workflow (off / low / normal / high)."""
    form = SensitivityForm(request.POST)
    if not form.is_valid():
        return HttpResponse("; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items()), status=422,
                            content_type="text/plain")
    data = form.cleaned_data
    actions.set_anomaly_sensitivity(data["project"], data["workflow_name"], data["environment"], data["sensitivity"])
    messages.success(request, f"Anomaly detection for {data['workflow_name']} ({data['environment']}): "
                     f"{Sensitivity(data['sensitivity']).label.lower()}.")
    target = data.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("monitoring:overview")
    return redirect(target)


@require_GET
@manager_required
def notifications(request):
    environment = selected_environment(request)
    filterset = NotificationFilter(request.GET, queryset=NotificationLog.objects.all())
    if not filterset.is_valid():
        raise BadRequest("Unknown filter value: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()))
    rows = filterset.qs
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return _page(request, "monitoring/notifications.html",
                 {"filter": filterset, "page": page, "filter_query": query.urlencode(), "environment": environment,
                  "hide_env_switch": True},
                 "notifications")
