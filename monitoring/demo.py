"""Demo data for monitoring: two weeks of runs for eight workflows, schedules, health checks, reports and a few
notifications. Idempotent: runs, schedules and checks have fixed ids, so a second run adds nothing."""

import os
import random
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from outbound.models import Stream

from .cron import next_fires
from .models import (
    Channel,
    CheckStatus,
    DeliveryStatus,
    HealthCheck,
    MonitoringReport,
    NotificationLog,
    NotificationType,
    ReportType,
    RunAlert,
    RunStatus,
    SystemHealthCheck,
    WorkflowExecution,
    WorkflowSchedule,
)
from .notify import delivery_key
from .reports import build_report, daily_window
from .rollup import rebuild as rebuild_daily_stats

# workflow, project slug, cron, runs a day, failure rate, typical duration (s)
WORKFLOWS = [
    ("nightly-backup", "acme-api", "0 2 * * *", 1, 0.05, 600),
    ("api-integration-tests", "acme-api", "0 * * * *", 24, 0.08, 240),
    ("search-reindex", "acme-api", "*/30 * * * *", 48, 0.02, 90),
    ("dependency-audit", "acme-api", "0 6 * * 1-5", 1, 0.1, 45),
    ("docs-crawl", "docs-assistant", "15 */4 * * *", 6, 0.15, 300),
    ("embedding-refresh", "docs-assistant", "30 3 * * *", 1, 0.0, 1200),
    ("answer-eval", "docs-assistant", "0 */2 * * *", 12, 0.2, 180),
    ("stale-link-check", "docs-assistant", None, 3, 0.3, 60),
]
DAYS = 14


def schedule_timezone(slug):
    return "Europe/Berlin" if "docs" in slug else "UTC"


def run_starts(cron, tz_name, per_day, since, until):
    """When the demo's runs started: on the schedule's own grid (a run the cron could not have started would
    contradict the schedule page), evenly through the day for a workflow without a schedule."""
    if cron is None:
        step = timedelta(days=1) / per_day
        return [since + i * step for i in range(DAYS * per_day) if since + i * step <= until]
    starts, after = [], since - timedelta(seconds=1)
    while True:
        batch = [t for t in next_fires(cron, tz_name, after, count=50) if t <= until]
        starts += batch
        if len(batch) < 50:
            return starts
        after = batch[-1]


def demo_checks():
    """The demo checks its own server: `make demo` serves on $PORT (default 8000), and the checks follow it."""
    origin = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}"
    return [
        ("dashboard-login", "Dashboard login page", f"{origin}/login/", 200),
        ("api-openapi", "API schema", f"{origin}/api/v1/openapi.json", 200),
        ("status-page", "Public status page", "http://127.0.0.1:9/status", 200),
    ]


# Reset on every run: due within a minute of `make demo` starting, so a visitor watches it turn late and alert.
LATE_SCHEDULE = "invoice-sync"


def add_demo(context, log):
    projects = context["projects"]
    rng = random.Random(3)  # noqa: S311  # fixed random state: the same demo every time
    now = timezone.now().replace(second=0, microsecond=0)
    runs = []
    for name, slug, cron, per_day, failure_rate, seconds in WORKFLOWS:
        project = projects[slug]
        # Runs are anchored to whole hours so re-running the demo later produces the same run ids for old runs.
        start = (now - timedelta(days=DAYS)).replace(minute=0)
        for started in run_starts(cron, schedule_timezone(slug), per_day, start, now - timedelta(minutes=5)):
            # A streak of failures two days ago makes the "ongoing failure alerts once" visible.
            failing = rng.random() < failure_rate or (name == "answer-eval" and started > now - timedelta(hours=3))
            duration = timedelta(seconds=max(1, rng.gauss(seconds, seconds * 0.25)))
            total = rng.randint(40, 400)
            failed_tests = rng.randint(1, 5) if failing else 0
            runs.append(WorkflowExecution(
                project=project, run_id=f"demo-{name}-{started:%Y%m%d%H%M}", workflow_name=name,
                status=RunStatus.FAILED if failing else RunStatus.SUCCESS, started_at=started,
                completed_at=started + duration, duration_ms=int(duration.total_seconds() * 1000),
                tests_total=total, tests_failed=failed_tests, tests_passed=total - failed_tests,
                error_message=f"{failed_tests} test(s) failed: AssertionError in test_{name.replace('-', '_')}" if failing else None,
                error_stack="Traceback (most recent call last):\n  File \"run.py\", line 42, in main\nAssertionError" if failing else None,
                triggered_by="schedule", alert_state=RunAlert.NONE,
            ))
    WorkflowExecution.objects.bulk_create(runs, ignore_conflicts=True, batch_size=1000)
    # bulk_create bypasses finish_run, so recompute the dashboard's daily totals for the demo's days.
    rebuild_daily_stats(since=now - timedelta(days=DAYS + 1))
    log(f"  monitoring: {WorkflowExecution.objects.count()} runs stored ({len(runs)} demo runs, existing ones kept)")

    for name, slug, cron, _per_day, _rate, _s in WORKFLOWS:
        if cron is None:
            continue
        project = projects[slug]
        counts = WorkflowExecution.objects.filter(project=project, workflow_name=name)
        schedule, was_created = WorkflowSchedule.objects.get_or_create(
            project=project, workflow_name=name,
            defaults={"cron_expression": cron, "timezone": schedule_timezone(slug),
                      "grace_period_seconds": 600},
        )
        if was_created:
            last = counts.order_by("-started_at").first()
            schedule.last_run_at = last.started_at if last else None
            schedule.run_count = counts.count()
            schedule.success_count = counts.filter(status=RunStatus.SUCCESS).count()
            schedule.failure_count = counts.filter(status=RunStatus.FAILED).count()
            schedule.next_run_at = schedule.compute_next_run(now)
            schedule.save()
    # One schedule whose workflow never reports: it shows as late on the dashboard.
    WorkflowSchedule.objects.get_or_create(
        project=projects["acme-api"], workflow_name="billing-export",
        defaults={"cron_expression": "0 5 * * *", "grace_period_seconds": 900, "alert_state": "LATE",
                  "next_run_at": now.replace(hour=5, minute=0) - timedelta(days=1 if now.hour < 5 else 0)},
    )
    # Every minute, so its next run (on the cron's grid) is at most a minute away and it turns late soon after.
    late, _ = WorkflowSchedule.objects.update_or_create(
        project=projects["acme-api"], workflow_name=LATE_SCHEDULE,
        defaults={"cron_expression": "* * * * *", "grace_period_seconds": 15, "alert_state": "OK", "status": "ACTIVE"},
    )
    late.next_run_at = late.compute_next_run(timezone.now())
    late.save(update_fields=["next_run_at"])
    log(f"  monitoring: {WorkflowSchedule.objects.count()} schedules")

    for check_id, name, url, expected in demo_checks():
        if HealthCheck.objects.filter(project=projects["acme-api"], check_id=check_id).exists():
            # Point at this run's port and run right after start-up, so fresh results appear within a minute.
            HealthCheck.objects.filter(project=projects["acme-api"], check_id=check_id).update(url=url, due_at=now + timedelta(seconds=5))
            continue
        down = check_id == "status-page"
        check = HealthCheck.objects.create(
            project=projects["acme-api"], check_id=check_id, check_name=name, url=url, expected_status=expected,
            interval_seconds=60, due_at=now + timedelta(seconds=5), alert_state="FAILING" if down else "OK",
        )
        SystemHealthCheck.objects.bulk_create([
            SystemHealthCheck(
                health_check=check, check_id=check_id, check_name=name, expected_status=expected,
                status=CheckStatus.UNHEALTHY if down else CheckStatus.HEALTHY,
                checked_at=now - timedelta(minutes=10 * i),
                response_time_ms=rng.randint(20, 180) if not down else 3,
                actual_status=None if down else expected,
                error_message="connection failed: [Errno 111] Connection refused" if down else None,
            )
            for i in range(12, 0, -1)
        ])
    # A check someone removed last week: its results stay, readable from the removed check's history page.
    if not SystemHealthCheck.objects.filter(check_id="legacy-search", health_check__isnull=True).exists():
        SystemHealthCheck.objects.bulk_create([
            SystemHealthCheck(health_check=None, check_id="legacy-search", check_name="Legacy search endpoint",
                              expected_status=200, status=CheckStatus.HEALTHY, actual_status=200,
                              checked_at=now - timedelta(days=7, minutes=10 * i), response_time_ms=rng.randint(40, 90))
            for i in range(6, 0, -1)
        ])
    log(f"  monitoring: {HealthCheck.objects.count()} health checks")

    for days_back in range(3, 0, -1):
        start, end = daily_window(now - timedelta(days=days_back - 1))
        if not MonitoringReport.objects.filter(report_type=ReportType.DAILY, start_time=start).exists():
            build_report(start, end, ReportType.DAILY, notify=False)
    log(f"  monitoring: {MonitoringReport.objects.count()} reports")

    latest_failure = WorkflowExecution.objects.failed().filter(workflow_name="answer-eval").order_by("started_at").last()
    samples = [
        ("demo:answer-eval:failed", NotificationType.WORKFLOW_FAILED, "Workflow failed: answer-eval",
         Channel.SLACK, "https://hooks.slack.example/services/T000/B000/XXXX", [DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED]),
        ("demo:answer-eval:failed", NotificationType.WORKFLOW_FAILED, "Workflow failed: answer-eval",
         Channel.EMAIL, "oncall@example.com", [DeliveryStatus.SUCCEEDED]),
        ("demo:billing-export:missed", NotificationType.SCHEDULE_MISSED, "Scheduled run missed: billing-export",
         Channel.WEBHOOK, "https://ops.example/hooks/activityhub", [DeliveryStatus.FAILED, DeliveryStatus.FAILED, DeliveryStatus.GAVE_UP]),
        ("demo:status-page:down", NotificationType.CHECK_DOWN, "Health check down: Public status page",
         Channel.SLACK, "https://hooks.slack.example/services/T000/B000/XXXX", [DeliveryStatus.SUCCEEDED]),
    ]
    rows = []
    for key, kind, subject, channel, target, attempts in samples:
        about = ("run", str(latest_failure.pk)) if kind == NotificationType.WORKFLOW_FAILED and latest_failure else (
            key.split(":")[0], key.split(":")[1])
        for n, status in enumerate(attempts):
            rows.append(NotificationLog(
                stream=Stream.ALERT, event_type=kind, channel=channel, target=target, subject=subject,
                delivery_id=key, delivery_key=delivery_key(key, channel, target), source=about[0], source_id=about[1],
                text=subject, attempt=n + 1, state=status, sent_at=now - timedelta(minutes=30 - 2**n),
                error="HTTP 503 from webhook" if status != DeliveryStatus.SUCCEEDED else "",
            ))
    NotificationLog.objects.bulk_create(rows, ignore_conflicts=True)
    # An attempt is created when it is queued, a moment before it is sent (a re-run keeps the rows it already
    # stored, with their own times).
    NotificationLog.objects.filter(delivery_id__startswith="demo:", sent_at__isnull=False).update(
        created_at=F("sent_at") - timedelta(seconds=2), next_attempt_at=F("sent_at") - timedelta(seconds=2))
    log(f"  monitoring: {NotificationLog.objects.count()} notification attempts")
