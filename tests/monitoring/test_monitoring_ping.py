"""Cron check-ins like healthchecks.io: each schedule's secret ping URL records runs; a wrong URL stores nothing;
each URL is rate-limited; the schedule page shows the crontab one-liner; a real cron-like loop keeps a schedule
on time, and the real missed-run detection turns it late when the loop stops."""

import shutil
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitoring.daemon import Monitor
from monitoring.models import RunStatus, ScheduleAlert, SchedulePing, WorkflowExecution, WorkflowSchedule
from monitoring.ping import ping_url
from tests.api_fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def schedule(project):
    return WorkflowSchedule.objects.create(project=project, workflow_name="backup", cron_expression="*/5 * * * *")


@pytest.fixture
def cron():
    """A client like a cron job's: no session, CSRF checks on (a ping must not need a token)."""
    return Client(enforce_csrf_checks=True)


def url(schedule, suffix=""):
    return reverse("ping:success", args=[schedule.ping_token]) + suffix


def runs():
    return list(WorkflowExecution.objects.order_by("id"))


@pytest.mark.parametrize("method", ["get", "head", "post"])
def test_a_ping_by_get_head_or_post_records_a_successful_run_of_the_schedule(cron, schedule, method):
    before = schedule.next_run_at
    response = getattr(cron, method)(url(schedule))
    assert response.status_code == 200
    [run] = runs()
    assert (run.workflow_name, run.environment, run.status) == ("backup", "production", RunStatus.SUCCESS)
    assert run.duration_ms is None  # nothing measured without a start: no fake 0 ms in the statistics
    assert run.triggered_by == "ping URL"
    schedule.refresh_from_db()
    assert schedule.run_count == 1 and schedule.success_count == 1 and schedule.next_run_at >= before
    ping = SchedulePing.objects.get()
    assert (ping.kind, ping.method, ping.execution_id) == ("success", method.upper(), run.pk)


def test_start_then_success_measures_the_duration(cron, schedule):
    assert cron.get(url(schedule, "/start")).status_code == 200
    [run] = runs()
    assert run.status == RunStatus.RUNNING
    WorkflowExecution.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=42))
    assert cron.post(url(schedule), b"done", content_type="text/plain").status_code == 200
    [run] = runs()
    assert run.status == RunStatus.SUCCESS and 41_000 <= run.duration_ms <= 45_000


def test_a_failure_ping_keeps_its_body_and_says_what_failed(cron, schedule):
    body = b"\n  pg_dump: connection refused\nmore detail\n"
    assert cron.post(url(schedule, "/fail"), body, content_type="text/plain").status_code == 200
    [run] = runs()
    assert run.status == RunStatus.FAILED and run.error_message == "pg_dump: connection refused"
    assert "more detail" in run.error_stack
    assert SchedulePing.objects.get().body == body.decode()


@pytest.mark.parametrize(("status", "outcome"), [(0, RunStatus.SUCCESS), (3, RunStatus.FAILED)])
def test_an_exit_status_in_the_url_decides_the_outcome(cron, schedule, status, outcome):
    assert cron.get(url(schedule, f"/{status}")).status_code == 200
    [run] = runs()
    assert run.status == outcome
    assert SchedulePing.objects.get().exit_status == status
    if status:
        assert run.error_message == "The job exited with status 3 (reported by its ping URL)."


def test_an_exit_status_over_255_is_400_and_stores_nothing(cron, schedule):
    assert cron.get(url(schedule, "/256")).status_code == 400
    assert not runs() and not SchedulePing.objects.exists()


def test_a_large_body_is_cut_at_the_limit(cron, schedule, settings):
    settings.PING_BODY_LIMIT_BYTES = 100
    response = cron.post(url(schedule), b"x" * 5000, content_type="text/plain")
    assert response.status_code == 200 and response["Ping-Body-Limit"] == "100"
    ping = SchedulePing.objects.get()
    assert len(ping.body) == 100 and ping.body_truncated


def test_a_body_with_nul_and_bad_utf8_is_kept_readable(cron, schedule):
    assert cron.post(url(schedule), b"ok\x00\xff end", content_type="application/octet-stream").status_code == 200
    assert SchedulePing.objects.get().body == "ok\ufffd end"


def test_a_wrong_token_is_404_and_stores_nothing(cron, schedule):
    for path in (f"/ping/{uuid.uuid4()}", f"/ping/{uuid.uuid4()}/start", f"/ping/{uuid.uuid4()}/fail", "/ping/not-a-uuid"):
        assert cron.post(path, b"body", content_type="text/plain").status_code == 404, path
    assert not runs() and not SchedulePing.objects.exists()
    schedule.refresh_from_db()
    assert schedule.run_count == 0


def test_other_methods_are_refused(cron, schedule):
    assert cron.put(url(schedule)).status_code == 405
    assert not runs()


def test_each_ping_url_is_rate_limited_and_a_refused_ping_stores_nothing(cron, schedule, project, settings):
    settings.PING_RATE_LIMIT = "2/min"
    other = WorkflowSchedule.objects.create(project=project, workflow_name="other", cron_expression="0 * * * *")
    assert [cron.get(url(schedule)).status_code for _ in range(3)] == [200, 200, 429]
    refused = cron.get(url(schedule))
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "at most 2/min" in refused.content.decode()
    assert len(runs()) == 2 and SchedulePing.objects.count() == 2
    assert cron.get(url(other)).status_code == 200  # the budget is per URL


def test_rid_pairs_a_start_with_its_own_finish_when_runs_overlap(cron, schedule):
    cron.get(url(schedule, "/start?rid=a"))
    cron.get(url(schedule, "/start?rid=b"))
    cron.get(url(schedule, "/fail?rid=a"))
    by_id = {r.run_id: r.status for r in runs()}
    assert by_id == {"ping-a": RunStatus.FAILED, "ping-b": RunStatus.RUNNING}
    assert cron.get(url(schedule, "?rid=bad%20id")).status_code == 400


def test_the_ping_log_keeps_the_newest_pings_only(cron, schedule, monkeypatch, settings):
    settings.PING_RATE_LIMIT = "1000/min"
    monkeypatch.setattr("monitoring.ping.PING_LOG_KEEP", 3)
    for _ in range(5):
        cron.get(url(schedule))
    assert SchedulePing.objects.count() == 3 and len(runs()) == 5  # the runs stay; only the log is trimmed


# --- the schedule page ---------------------------------------------------------------------------------------------


def test_schedule_page_shows_the_crontab_one_liner_with_the_site_url(client_for, manager, schedule, settings):
    settings.SITE_URL = "https://activity.example.com"
    html = client_for(manager).get(reverse("monitoring:schedule_detail", args=[schedule.schedule_id])).content.decode()
    expected = f"curl -fsS -m 10 --retry 5 -o /dev/null https://activity.example.com/ping/{schedule.ping_token}"
    assert expected in html
    assert f"https://activity.example.com/ping/{schedule.ping_token}/start" in html
    assert "http://testserver" not in html


def test_without_site_url_the_one_liner_uses_the_requests_host(client_for, manager, schedule, settings):
    settings.SITE_URL = ""
    html = client_for(manager).get(reverse("monitoring:schedule_detail", args=[schedule.schedule_id])).content.decode()
    assert f"curl -fsS -m 10 --retry 5 -o /dev/null http://testserver/ping/{schedule.ping_token}" in html


def test_schedule_page_lists_the_last_pings_with_their_body(client_for, manager, cron, schedule):
    cron.post(url(schedule, "/fail"), b"disk full", content_type="text/plain")
    html = client_for(manager).get(reverse("monitoring:schedule_detail", args=[schedule.schedule_id])).content.decode()
    assert "disk full" in html and 'data-ping="fail"' in html
    assert "No pings yet" not in html


def test_schedule_page_is_for_managers_only(client_for, viewer, schedule):
    page = reverse("monitoring:schedule_detail", args=[schedule.schedule_id])
    assert Client().get(page).status_code == 302  # anonymous: to sign-in
    assert client_for(viewer).get(page).status_code == 403
    assert client_for(viewer).post(reverse("monitoring:schedule_ping_url", args=[schedule.schedule_id])).status_code == 403


def test_a_new_ping_url_retires_the_old_one(client_for, manager, cron, schedule):
    old = url(schedule)
    response = client_for(manager).post(reverse("monitoring:schedule_ping_url", args=[schedule.schedule_id]))
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert cron.get(old).status_code == 404 and cron.get(url(schedule)).status_code == 200
    assert len(runs()) == 1


def test_the_schedules_api_gives_each_schedules_ping_url(api_as, read_token, schedule, settings):
    settings.SITE_URL = "https://activity.example.com"
    [row] = api_as(read_token).get("/monitoring/schedules").json()
    assert row["ping_url"] == ping_url(schedule)
    assert row["ping_url"] == f"https://activity.example.com/ping/{schedule.ping_token}"


# --- a real cron-like loop --------------------------------------------------------------------------------------


def _cron_loop(line: str, times: int, every: float) -> list[str]:
    """A process that runs the crontab's command `times` times, `every` seconds apart, like cron would."""
    if shutil.which("curl"):
        script = f"for i in $(seq {times}); do {line} || exit 1; sleep {every}; done"
        return ["bash", "-c", script]
    target = line.split()[-1]
    code = (f"import time, urllib.request\nfor _ in range({times}):\n"
            f"    urllib.request.urlopen({target!r}, timeout=10).read()\n    time.sleep({every})")
    return [sys.executable, "-c", code]


@pytest.mark.django_db(transaction=True)
def test_a_cron_loop_keeps_its_schedule_on_time_and_it_turns_late_when_the_loop_stops(live_server, project, settings):
    settings.SITE_URL = live_server.url
    schedule = WorkflowSchedule.objects.create(
        project=project, workflow_name="every-minute", cron_expression="* * * * *", grace_period_seconds=30,
    )
    from monitoring.ping import cron_line

    line = cron_line(schedule)
    assert line.startswith("curl -fsS -m 10 --retry 5 ") and live_server.url in line
    subprocess.run(_cron_loop(line, times=3, every=0.5), check=True, timeout=60)

    schedule.refresh_from_db()
    assert schedule.run_count == 3 and SchedulePing.objects.filter(schedule=schedule).count() == 3
    last_ping = schedule.last_run_at
    assert last_ping is not None
    monitor = Monitor(workers=1, daily_reports=False, clock=timezone.now)
    assert monitor.detect_missed_schedules() == 0  # pinging: on time
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.OK

    # The loop has stopped: two minutes and the grace period later the real detection says the schedule is late.
    later = Monitor(workers=1, daily_reports=False, clock=lambda: last_ping + timedelta(minutes=2, seconds=31))
    assert later.detect_missed_schedules() == 1
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.LATE
    monitor.close()
    later.close()
