"""The monitoring daemon against real local HTTP servers: health checks, alerts, retries, reports, parallel runs."""

import json
import os
import signal
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from lib import claims
from monitoring.daemon import Monitor
from monitoring.models import (
    CheckStatus,
    DeliveryStatus,
    HealthCheck,
    MonitoringReport,
    NotificationLog,
    NotificationType,
    ReportType,
    RunStatus,
    ScheduleAlert,
    SystemHealthCheck,
    WorkflowExecution,
    WorkflowSchedule,
)
from monitoring.notify import backoff, enqueue
from monitoring.reports import build_daily_report_if_due, build_report, report_built
from monitoring.runs import finish_run, start_run


class _Server(ThreadingHTTPServer):
    hits: list
    plan: dict
    lock: threading.Lock
    url: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server = self.server
        with server.lock:
            server.hits.append((self.command, self.path, body))
            plan = server.plan.get(self.path, [200])
            status = plan.pop(0) if len(plan) > 1 else plan[0]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"ok")

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1; `server.plan[path] = [503, 503, 200]` sets the answers in order."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hits, server.plan, server.lock = [], {}, threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def slack(settings, http_server):
    settings.MONITORING_NOTIFICATIONS = [{"channel": "slack", "target": f"{http_server.url}/slack"}]
    settings.DELIVERY_ALERT_RETRY_BASE_SECONDS = 0
    settings.DELIVERY_ALERT_MAX_ATTEMPTS = 4
    return http_server


def posts_to(server, path):
    return [json.loads(body) for method, p, body in server.hits if method == "POST" and p == path]


def add_check(server, check_id="api", path="/health", **extra):
    return HealthCheck.objects.create(
        check_id=check_id, check_name=check_id.title(), url=f"{server.url}{path}", due_at=timezone.now(), **extra
    )


def run_once(**kwargs):
    monitor = Monitor(workers=4, daily_reports=False, **kwargs)
    try:
        return monitor.tick()
    finally:
        monitor.close()


# --- health checks -----------------------------------------------------------------------------------------


def test_due_health_check_stores_its_result_and_schedules_the_next(db, http_server):
    add_check(http_server, interval_seconds=60)
    assert run_once()["checks"] == 1
    result = SystemHealthCheck.objects.results().get()
    assert (result.status, result.actual_status, result.error_message) == (CheckStatus.HEALTHY, 200, None)
    assert result.response_time_ms is not None and result.checked_at is not None
    upcoming = HealthCheck.objects.get()
    assert upcoming.claimed_by is None and result.health_check == upcoming
    assert upcoming.due_at >= result.checked_at + timedelta(seconds=60)
    assert run_once()["checks"] == 0  # not due again yet
    assert [(m, p) for m, p, _ in http_server.hits] == [("GET", "/health")]


def test_unexpected_status_and_unreachable_host_are_unhealthy_with_an_error(db, http_server):
    http_server.plan["/broken"] = [503]
    add_check(http_server, "broken", "/broken")
    HealthCheck.objects.create(check_id="closed", check_name="Closed", url="http://127.0.0.1:9/", timeout_ms=500)
    run_once()
    broken = SystemHealthCheck.objects.results().get(check_id="broken")
    assert (broken.status, broken.actual_status, broken.error_message) == ("UNHEALTHY", 503, "expected HTTP 200, got 503")
    closed = SystemHealthCheck.objects.results().get(check_id="closed")
    assert closed.status == "UNHEALTHY" and closed.actual_status is None and "connection failed" in closed.error_message


def test_method_and_expected_status_are_honoured(db, http_server):
    http_server.plan["/created"] = [201]
    add_check(http_server, "post", "/created", method="POST", expected_status=201)
    run_once()
    assert SystemHealthCheck.objects.results().get().status == "HEALTHY"
    assert http_server.hits[0][:2] == ("POST", "/created")


def test_a_check_that_stays_down_alerts_once_and_its_recovery_is_announced(db, slack):
    slack.plan["/flaky"] = [500, 500, 500, 200]
    add_check(slack, "flaky", "/flaky", interval_seconds=10)
    for _ in range(4):
        run_once()
        HealthCheck.objects.update(due_at=timezone.now())
    messages = [m["text"] for m in posts_to(slack, "/slack")]
    assert len(messages) == 2
    assert messages[0] == "The health check “Flaky” (production) is down: expected HTTP 200, got 500"
    assert messages[1].startswith("The health check “Flaky” (production) is up again: it answers 200 in ")


# --- notifications -----------------------------------------------------------------------------------------


def test_webhook_that_fails_then_succeeds_is_retried_and_logged_per_attempt(db, slack):
    slack.plan["/slack"] = [503, 500, 200]
    enqueue(NotificationType.WORKFLOW_FAILED, subject="Workflow failed: nightly", message="boom", dedupe_key="k1")
    assert run_once()["notifications"] == 1
    attempts = list(NotificationLog.objects.order_by("attempt").values_list("attempt", "state", "error"))
    assert attempts == [
        (1, DeliveryStatus.FAILED, "HTTP 503"),
        (2, DeliveryStatus.FAILED, "HTTP 500"),
        (3, DeliveryStatus.SUCCEEDED, ""),
    ]
    assert len(posts_to(slack, "/slack")) == 3
    assert NotificationLog.objects.delivered().count() == 1


def test_backoff_doubles_and_waits_between_attempts(db, slack, settings):
    settings.DELIVERY_ALERT_RETRY_BASE_SECONDS = 30
    settings.DELIVERY_RETRY_JITTER = 0
    assert [backoff(n).total_seconds() for n in range(4)] == [30, 60, 120, 240]
    settings.DELIVERY_RETRY_JITTER = 0.1  # the default: spread by up to ±10 %
    assert all(27 <= backoff(0).total_seconds() <= 33 for _ in range(50))
    assert len({backoff(2) for _ in range(20)}) > 1
    slack.plan["/slack"] = [503, 200]
    enqueue(NotificationType.REPORT, subject="s", message="m", dedupe_key="k2")
    run_once()
    retry = NotificationLog.objects.get(attempt=2)
    assert retry.state == DeliveryStatus.PENDING
    assert retry.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert len(posts_to(slack, "/slack")) == 1  # the retry waits for its time


def test_delivery_gives_up_after_the_last_attempt(db, slack):
    slack.plan["/slack"] = [502]
    enqueue(NotificationType.CHECK_DOWN, subject="down", message="m", dedupe_key="k3")
    run_once()
    statuses = list(NotificationLog.objects.order_by("attempt").values_list("state", flat=True))
    assert statuses == ["failed", "failed", "failed", "gave_up"]


def test_generic_webhook_and_email_channels(db, settings, http_server):
    settings.MONITORING_NOTIFICATIONS = [
        {"channel": "webhook", "target": f"{http_server.url}/hook"},
        {"channel": "email", "target": "oncall@example.com"},
    ]
    enqueue(NotificationType.SCHEDULE_MISSED, subject="Missed: billing", message="late", dedupe_key="k4",
            payload={"workflow_name": "billing"})
    assert run_once()["notifications"] == 2
    [hook] = posts_to(http_server, "/hook")
    created = hook.pop("created")  # the envelope every webhook gets (outbound.send), with the alert's id
    assert isinstance(created, int) and abs(created - timezone.now().timestamp()) < 60
    links = hook.pop("links")  # the sentence and the links to act on, beside the machine codes
    assert hook == {"id": "k4", "type": "schedule_missed", "subject": "Missed: billing",
                    "text": "Missed: billing.\nlate\n\nManage your notifications: /monitoring/notifications/#alert-channels",
                    "data": {"workflow_name": "billing"}}
    assert links == {"manage": "/monitoring/notifications/#alert-channels"}  # no SITE_URL set: bare paths
    assert [(m.subject, m.to) for m in mail.outbox] == [("Missed: billing", ["oncall@example.com"])]


def test_the_same_alert_raised_twice_is_queued_once(db, slack):
    for _ in range(2):
        enqueue(NotificationType.WORKFLOW_FAILED, subject="s", message="m", dedupe_key="same")
    assert NotificationLog.objects.count() == 1


# --- workflow failures and schedules -------------------------------------------------------------------------


def _run(project, run_id, status, minutes_ago, name="nightly", error=None):
    start = timezone.now() - timedelta(minutes=minutes_ago)
    start_run(project, run_id=run_id, workflow_name=name, started_at=start)
    finish_run(project, run_id, status=status, completed_at=start + timedelta(seconds=30), error_message=error)


def test_an_ongoing_failure_alerts_once_and_recovery_is_announced(project, slack):
    _run(project, "1", RunStatus.SUCCESS, 50)
    _run(project, "2", RunStatus.FAILED, 40, error="disk full")
    _run(project, "3", RunStatus.FAILED, 30)
    run_once()
    _run(project, "4", RunStatus.FAILED, 20)
    _run(project, "5", RunStatus.SUCCESS, 10)
    run_once()
    failed, recovered = posts_to(slack, "/slack")
    assert failed["text"].startswith("The nightly workflow in Acme API (production) failed at ")
    assert failed["text"].endswith(" UTC, 30 s after it started")
    assert failed["blocks"][1]["text"]["text"].startswith("Error: disk full\nRun 2.")
    assert recovered["text"].startswith("The nightly workflow in Acme API (production) succeeded again at ")
    assert recovered["text"].endswith(", after 3 failed runs")
    assert recovered["blocks"][1]["text"]["text"] == "Run 5 took 30.0 s."
    alert = NotificationLog.objects.filter(event_type="workflow_failed").get()
    assert alert.source == "run" and WorkflowExecution.objects.get(pk=alert.source_id).run_id == "2"
    assert not WorkflowExecution.objects.awaiting_alert_evaluation().exists()


def test_missed_scheduled_run_alerts_once_and_the_next_run_announces_recovery(project, slack):
    schedule = WorkflowSchedule.objects.create(
        project=project, workflow_name="hourly", cron_expression="0 * * * *", grace_period_seconds=300
    )
    WorkflowSchedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(minutes=4))
    run_once()
    assert not posts_to(slack, "/slack")  # still inside the grace period
    WorkflowSchedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(minutes=10))
    run_once()
    run_once()
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.LATE
    [missed] = [m["text"] for m in posts_to(slack, "/slack")]
    assert missed.startswith("The hourly workflow in Acme API (production) did not start at ")
    start_run(project, run_id="late-1", workflow_name="hourly", started_at=timezone.now())
    run_once()
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.OK
    assert schedule.next_run_at is not None and schedule.next_run_at > timezone.now()
    assert posts_to(slack, "/slack")[-1]["text"].startswith(
        "The hourly workflow in Acme API (production) is back on time: a run started at ")


# --- reports ---------------------------------------------------------------------------------------------------


def test_report_totals_and_links_its_executions(project, slack):
    for i, status in enumerate([RunStatus.SUCCESS, RunStatus.SUCCESS, RunStatus.FAILED]):
        _run(project, f"r{i}", status, 60 - i, name="a" if i < 2 else "b")
    now = timezone.now()
    report = build_report(now - timedelta(hours=2), now)
    assert (report.total_runs, report.successful_runs, report.failed_runs) == (3, 2, 1)
    assert report.success_rate == pytest.approx(66.67)
    assert report.avg_duration_ms == 30000
    assert {w["workflow_name"]: w["total"] for w in report.workflow_breakdown} == {"a": 2, "b": 1}
    assert set(report.executions.values_list("run_id", flat=True)) == {"r0", "r1", "r2"}
    run_once()
    report.refresh_from_db()
    assert report.notified_at is not None  # the report notification was delivered


def test_a_report_that_fails_midway_leaves_neither_report_nor_links(project):
    _run(project, "keep", RunStatus.SUCCESS, 10)

    def explode(**kwargs):
        raise RuntimeError("storage went away")

    report_built.connect(explode)
    try:
        with pytest.raises(RuntimeError):
            build_report(timezone.now() - timedelta(hours=1), timezone.now())
    finally:
        report_built.disconnect(explode)
    assert not MonitoringReport.objects.exists()
    assert WorkflowExecution.objects.get(run_id="keep").report_id is None


def test_daily_report_is_built_once_and_takes_over_runs_from_on_demand_reports(project):
    now = timezone.now()
    _run(project, "y", RunStatus.SUCCESS, 60 * 24)
    yesterday_run = WorkflowExecution.objects.get(run_id="y")
    on_demand = build_report(now - timedelta(hours=30), now, notify=False)
    assert yesterday_run.pk in on_demand.executions.values_list("pk", flat=True)
    first = build_daily_report_if_due(now)
    assert build_daily_report_if_due(now) is None
    assert MonitoringReport.objects.filter(report_type=ReportType.DAILY).count() == 1
    in_window = first.start_time <= yesterday_run.started_at < first.end_time
    yesterday_run.refresh_from_db()
    assert (yesterday_run.report_id == first.report_id) == in_window


# --- the command ----------------------------------------------------------------------------------------------


def test_monitor_command_once(db, http_server, capsys):
    add_check(http_server)
    call_command("monitor", "--once", "--no-daily-report", "--workers", "2")
    assert "checks=1" in capsys.readouterr().out
    assert SystemHealthCheck.objects.results().count() == 1


def test_monitor_command_stops_cleanly_on_sigterm(db):
    previous = signal.getsignal(signal.SIGTERM)

    def terminate_once_the_daemon_listens():
        for _ in range(500):
            if signal.getsignal(signal.SIGTERM) is not previous:
                break
            threading.Event().wait(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_the_daemon_listens)
    killer.start()
    call_command("monitor", "--interval", "0.1", "--no-daily-report", "--workers", "1")
    killer.join()
    assert signal.getsignal(signal.SIGTERM) == previous  # the command restores the handler it replaced


def test_on_demand_report_command(project):
    _run(project, "x", RunStatus.FAILED, 5)
    call_command("monitor", "--report", "--hours", "1")
    assert MonitoringReport.objects.get().failed_runs == 1


# --- two daemons at once --------------------------------------------------------------------------------------


def _queue_alerts(count):
    for i in range(count):
        enqueue(NotificationType.WORKFLOW_FAILED, subject=f"alert {i}", message="m", dedupe_key=f"par-{i}")


def _assert_each_sent_once(server, count):
    subjects = [m["text"] for m in posts_to(server, "/slack")]  # the notification line: the alert's sentence
    assert sorted(subjects) == sorted(f"alert {i}" for i in range(count))
    assert NotificationLog.objects.filter(state=DeliveryStatus.SUCCEEDED).count() == count
    assert NotificationLog.objects.count() == count


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_daemons_in_parallel_send_each_notification_once(slack):
    count = 40
    _queue_alerts(count)
    if connection.vendor == "postgresql":
        # Real parallelism: two threads, each with its own database connection, racing over the same queue.
        barrier = threading.Barrier(2)
        errors = []

        def daemon():
            try:
                barrier.wait()
                monitor = Monitor(workers=4, batch=7, daily_reports=False)
                monitor.deliver_notifications()
                monitor.close()
            except Exception as exc:  # surfaced below: a failing thread must fail the test
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=daemon) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    else:
        # SQLite serialises writers, so race the claim protocol step by step in the worst order: daemon A picks
        # its candidates, daemon B claims and sends everything, then A tries to take the rows it picked.
        queue = NotificationLog.objects.due(timezone.now())
        picked_by_a = claims.find_candidates(queue, 1000)
        assert len(picked_by_a) == count
        b = Monitor(workers=4, batch=7, daily_reports=False)
        assert b.deliver_notifications() == count
        b.close()
        assert claims.take(queue, picked_by_a, claims.new_token(), state=DeliveryStatus.SENDING) == []
        a = Monitor(workers=4, daily_reports=False)
        assert a.deliver_notifications() == 0
        a.close()
    _assert_each_sent_once(slack, count)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_daemons_in_parallel_run_each_health_check_once(http_server):
    for i in range(30):
        HealthCheck.objects.create(check_id=f"c{i}", check_name=f"C{i}", url=f"{http_server.url}/c{i}")
    if connection.vendor == "postgresql":
        barrier = threading.Barrier(2)

        def daemon():
            try:
                barrier.wait()
                Monitor(workers=4, batch=5, daily_reports=False).run_due_checks()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=daemon) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        queue = HealthCheck.objects.due(timezone.now())
        picked_by_a = claims.find_candidates(queue, 1000)
        assert Monitor(workers=4, batch=5, daily_reports=False).run_due_checks() == 30
        assert claims.take(queue, picked_by_a, claims.new_token(), claimed_at=timezone.now()) == []
    paths = sorted(p for _, p, _ in http_server.hits)
    assert paths == sorted(f"/c{i}" for i in range(30))
    assert SystemHealthCheck.objects.results().count() == 30
    assert HealthCheck.objects.filter(claimed_by__isnull=True, due_at__gt=timezone.now()).count() == 30
