"""Monitoring speaks the schedule's time: previews and alerts on the schedule's clock and in UTC, across DST
changes (frozen clock), one missed-run alert and one "back on time" per outage, a next expected run never past."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from monitoring.daemon import Monitor
from monitoring.models import NotificationLog, NotificationType, ScheduleAlert, WorkflowSchedule
from monitoring.runs import start_run


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(autouse=True)
def alert_by_email(settings):
    settings.MONITORING_NOTIFICATIONS = [{"channel": "email", "target": "oncall@example.com"}]
    settings.SITE_URL = "https://activity.example.com"


def tick(at):
    """One pass of the real missed-run detection and recovery announcement at the moment `at`."""
    monitor = Monitor(workers=1, daily_reports=False, clock=lambda: at)
    try:
        return monitor.detect_missed_schedules(), monitor.announce_schedule_recoveries()
    finally:
        monitor.close()


def alerts(kind):
    return list(NotificationLog.objects.filter(event_type=kind).order_by("id"))


def test_preview_of_a_weekday_berlin_schedule_lists_berlin_time_and_utc(client_for, manager):
    # Thursday 2026-01-08: the next runs are Fri 9th, Mon 12th, … at 02:30 CET, which is 01:30 UTC.
    with time_machine.travel(utc(2026, 1, 8, 12, 0), tick=False):
        response = client_for(manager).get(
            reverse("monitoring:schedules"), {"cron_expression": "30 2 * * 1-5", "timezone": "Europe/Berlin"},
            headers={"HX-Request": "true", "HX-Target": "cron-preview"},
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Fri 2026-01-09 02:30 CET (01:30 UTC)" in html
    assert "Mon 2026-01-12 02:30 CET (01:30 UTC)" in html
    assert "Sat 2026-01-10" not in html and "Sun 2026-01-11" not in html
    assert "01:30 UTC = 01:30 UTC" not in html and "= 01:30" not in html  # the old reading of both as UTC


def test_preview_of_a_utc_schedule_names_the_time_once():
    from monitoring.views import cron_preview

    preview = cron_preview("30 2 * * *", "UTC", now=utc(2026, 1, 8, 12, 0))
    assert preview["times"][0].words() == "Fri 2026-01-09 02:30 UTC"


def test_a_berlin_schedule_across_spring_forward_is_expected_and_missed_at_the_right_moments(project):
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST. "30 2 * * *" fires at 02:30 CET (01:30 UTC) on the 28th,
    # at 03:30 CEST (01:30 UTC) on the 29th (the skipped time, once), then at 02:30 CEST (00:30 UTC) on the 30th.
    with time_machine.travel(utc(2026, 3, 28, 12, 0), tick=False):
        schedule = WorkflowSchedule.objects.create(
            project=project, workflow_name="nightly", cron_expression="30 2 * * *", timezone="Europe/Berlin",
            grace_period_seconds=300,
        )
    assert schedule.next_run_at == utc(2026, 3, 29, 1, 30)
    assert schedule.next_run is not None
    assert schedule.next_run.words() == "Sun 2026-03-29 03:30 CEST (01:30 UTC)"

    assert tick(utc(2026, 3, 29, 1, 34)) == (0, 0)  # inside the grace period
    assert tick(utc(2026, 3, 29, 1, 36)) == (1, 0)
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.LATE
    assert schedule.next_run_at == utc(2026, 3, 30, 0, 30)  # moved on past now: 02:30 CEST
    [missed] = alerts(NotificationType.SCHEDULE_MISSED)
    assert "Sun 2026-03-29 03:30 CEST (01:30 UTC)" in missed.text
    assert "Next expected: Mon 2026-03-30 02:30 CEST (00:30 UTC)" in missed.text
    assert "https://activity.example.com/monitoring/schedules/" in missed.text

    # The job runs the next night on time: one "back on time", naming the night after in the future.
    with time_machine.travel(utc(2026, 3, 30, 0, 31), tick=False):
        start_run(project, run_id="n-30", workflow_name="nightly", started_at=utc(2026, 3, 30, 0, 31))
    assert tick(utc(2026, 3, 30, 0, 32)) == (0, 1)
    [back] = alerts(NotificationType.SCHEDULE_RECOVERED)
    assert "Mon 2026-03-30 02:31 CEST (00:31 UTC)" in back.text
    assert "Next expected: Tue 2026-03-31 02:30 CEST (00:30 UTC)" in back.text


def test_one_missed_run_gives_one_back_on_time_message_and_next_expected_is_never_past(project):
    """The daemon stops after a late run arrived and comes back after the following slot passed too: before, it
    said "back on time, next expected <past time>" and a minute later "missed" again (two mails, two past times)."""
    with time_machine.travel(utc(2026, 1, 10, 9, 50), tick=False):
        schedule = WorkflowSchedule.objects.create(
            project=project, workflow_name="hourly", cron_expression="0 * * * *", grace_period_seconds=300,
        )
    assert tick(utc(2026, 1, 10, 10, 6)) == (1, 0)  # 10:00 missed
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 10, 11, 0)

    # A late run at 10:20 counts for the schedule; the daemon is down until 11:10, past the 11:00 slot's grace.
    start_run(project, run_id="late", workflow_name="hourly", started_at=utc(2026, 1, 10, 10, 20))
    assert tick(utc(2026, 1, 10, 11, 10)) == (0, 0)
    assert tick(utc(2026, 1, 10, 11, 11)) == (0, 0)  # and no second "missed" a minute later
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.LATE and schedule.next_run_at == utc(2026, 1, 10, 12, 0)

    # Still late while nothing runs: the next expected time keeps moving past now, with no new alert.
    assert tick(utc(2026, 1, 10, 12, 30)) == (0, 0)
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 10, 13, 0)

    start_run(project, run_id="on-time", workflow_name="hourly", started_at=utc(2026, 1, 10, 13, 1))
    assert tick(utc(2026, 1, 10, 13, 2)) == (0, 1)
    assert tick(utc(2026, 1, 10, 13, 3)) == (0, 0)
    assert len(alerts(NotificationType.SCHEDULE_MISSED)) == 1
    [back] = alerts(NotificationType.SCHEDULE_RECOVERED)
    assert "Next expected: Sat 2026-01-10 14:00 UTC" in back.text
    schedule.refresh_from_db()
    assert schedule.alert_state == ScheduleAlert.OK and schedule.next_run_at == utc(2026, 1, 10, 14, 0)


def test_the_schedules_page_shows_next_runs_on_the_schedules_clock(client_for, manager, project):
    with time_machine.travel(utc(2026, 1, 8, 12, 0), tick=False):
        WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="30 2 * * 1-5",
                                        timezone="Europe/Berlin")
        html = client_for(manager).get(reverse("monitoring:schedules")).content.decode()
    assert "Fri 2026-01-09 02:30 CET (01:30 UTC)" in html
    assert "2026-01-09 01:30 UTC" not in html  # no longer only in UTC


def test_live_preview_sends_only_the_expression_and_time_zone(client_for, manager):
    html = client_for(manager).get(reverse("monitoring:schedules")).content.decode()
    assert 'hx-params="cron_expression,timezone"' in html


def test_a_preview_that_carries_extra_fields_still_reads_only_what_it_needs(client_for, manager):
    response = client_for(manager).get(
        reverse("monitoring:schedules"),
        {"cron_expression": "0 6 * * *", "timezone": "Europe/Berlin", "workflow_name": "x"},
        headers={"HX-Request": "true", "HX-Target": "cron-preview"},
    )
    assert response.status_code == 200 and "At 06:00, every day" in response.content.decode()


def test_missed_and_recovered_alerts_carry_the_times_for_machines(project):
    with time_machine.travel(utc(2026, 7, 1, 8, 0), tick=False):
        WorkflowSchedule.objects.create(project=project, workflow_name="report", cron_expression="0 9 * * *",
                                        timezone="Europe/Berlin", grace_period_seconds=60)
    # 09:00 CEST is 07:00 UTC: already past at 08:00 UTC, so the first expected run is the next day's.
    tick(utc(2026, 7, 2, 7, 2))
    [missed] = alerts(NotificationType.SCHEDULE_MISSED)
    assert missed.payload["expected_at"] == "2026-07-02T07:00:00+00:00"
    assert missed.payload["next_expected_at"] == "2026-07-03T07:00:00+00:00"
    assert missed.payload["timezone"] == "Europe/Berlin"
    assert missed.payload["url"].startswith("https://activity.example.com/monitoring/schedules/")
    assert missed.text.count("grace") == 1 and "1 minute grace period" in missed.text
    assert timedelta(0) < datetime.fromisoformat(missed.payload["next_expected_at"]) - utc(2026, 7, 2, 7, 2)
