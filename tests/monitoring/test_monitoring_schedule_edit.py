"""Schedules like healthchecks.io: a plain-English reading of the cron expression (cron-descriptor's), the next five
runs on the schedule's clock and in UTC (DST included), editing a schedule, and the preview answered by the same
view while typing."""

from datetime import UTC, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from monitoring.cron import describe, next_fires
from monitoring.models import WorkflowSchedule
from monitoring.views import cron_preview


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(("expression", "reading"), [
    ("0 6 * * 1-5", "At 06:00, Monday through Friday"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 * * * *", "Every hour"),
    ("30 3 * * *", "At 03:30, every day"),
    ("15 */4 * * *", "At 15 minutes past the hour, every 4 hours"),
    ("0 9-17 * * *", "On the hour, between 09:00 and 17:59, every day"),
    ("0 2 1 * *", "At 02:00, on day 1 of the month"),
    ("0 9 1,15 * mon", "At 09:00, on day 1 and 15 of the month, or on Monday"),
    ("0 0,12 * * *", "At 00:00 and 12:00, every day"),
    ("*/5 9-17 * * 1-5", "Every 5 minutes, between 09:00 and 17:59, Monday through Friday"),
    ("0 0 * 1-3 *", "At 00:00, January through March"),
    ("0 12 * * 0", "At 12:00, only on Sunday"),
    # What the hand-written reader could not put into words: last day, nth weekday.
    ("0 0 L * *", "At 00:00, on the last day of the month"),
    ("0 8 * * 1#2", "At 08:00, on the second Monday of the month"),
])
def test_cron_expression_reads_in_plain_english(expression, reading):
    assert describe(expression) == reading


def test_next_five_runs_across_spring_forward_in_berlin():
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 runs once, at 03:30 CEST (01:30 UTC), then 02:30 CEST.
    assert next_fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12, 0)) == [
        utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30),
        utc(2026, 4, 1, 0, 30),
    ]


def test_next_five_runs_across_fall_back_in_london_run_the_repeated_hour_once():
    # 2026-10-25 02:00 BST goes back to 01:00 GMT: 01:30 happens twice, the schedule runs on the first.
    assert next_fires("30 1 * * *", "Europe/London", utc(2026, 10, 23, 12, 0)) == [
        utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30),
        utc(2026, 10, 28, 1, 30),
    ]


def test_hourly_preview_over_fall_back_is_strictly_increasing():
    times = next_fires("0 * * * *", "Europe/Paris", utc(2026, 10, 24, 23, 30))
    assert times == sorted(set(times)) and len(times) == 5


def test_preview_gives_local_and_utc_times_or_the_error():
    preview = cron_preview("0 9 * * *", "Europe/Berlin", now=utc(2026, 3, 28, 9, 0))
    assert preview["description"] == "At 09:00, every day"
    first = preview["times"][0]
    assert (first.local.hour, first.utc) == (9, utc(2026, 3, 29, 7, 0))  # CEST after the change
    assert first.words() == "Sun 2026-03-29 09:00 CEST (07:00 UTC)"
    assert "minute field '61'" in cron_preview("61 * * * *", "UTC")["error"]
    assert "Unknown time zone" in cron_preview("0 * * * *", "Mars/Olympus")["error"]


@pytest.fixture
def schedule(project):
    return WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="0 2 * * *")


def _preview(client, url, **query):
    return client.get(url, query, headers={"HX-Request": "true", "HX-Target": "cron-preview"})


def test_typing_a_cron_expression_gets_its_reading_from_the_same_view(client_for, manager, schedule):
    client = client_for(manager)
    for url in (reverse("monitoring:schedules"), reverse("monitoring:schedule_edit", args=[schedule.schedule_id])):
        response = _preview(client, url, cron_expression="0 6 * * 1-5", timezone="Europe/Berlin")
        html = response.content.decode()
        assert response.status_code == 200 and 'id="cron-preview"' in html and "<html" not in html
        assert "At 06:00, Monday through Friday" in html and html.count("<li>") == 5
        bad = _preview(client, url, cron_expression="0 6 * *", timezone="UTC")
        assert bad.status_code == 422 and "has 4" in bad.content.decode()


def test_edit_page_shows_the_reading_of_the_stored_expression(client_for, manager, schedule):
    html = client_for(manager).get(reverse("monitoring:schedule_edit", args=[schedule.schedule_id])).content.decode()
    assert "At 02:00, every day" in html and 'value="0 2 * * *"' in html


def test_editing_the_expression_recomputes_the_next_run(client_for, manager, schedule, project):
    response = client_for(manager).post(reverse("monitoring:schedule_edit", args=[schedule.schedule_id]), {
        "project": project.pk, "workflow_name": "nightly", "environment": "staging", "cron_expression": "15 4 * * *",
        "timezone": "Europe/Berlin", "grace_period_seconds": 120,
    })
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert (schedule.cron_expression, schedule.timezone, schedule.environment, schedule.grace_period_seconds) == (
        "15 4 * * *", "Europe/Berlin", "staging", 120)
    assert schedule.next_run_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "04:15"


def test_edit_with_a_bad_expression_is_422_and_changes_nothing(client_for, manager, schedule, project):
    response = client_for(manager).post(reverse("monitoring:schedule_edit", args=[schedule.schedule_id]), {
        "project": project.pk, "workflow_name": "nightly", "cron_expression": "0 25 * * *", "timezone": "UTC",
        "grace_period_seconds": 300,
    })
    assert response.status_code == 422 and "hour field '25'" in unescape(response.content.decode())
    schedule.refresh_from_db()
    assert schedule.cron_expression == "0 2 * * *"


def test_edit_into_another_schedules_workflow_is_refused(client_for, manager, schedule, project):
    other = WorkflowSchedule.objects.create(project=project, workflow_name="hourly", cron_expression="0 * * * *")
    response = client_for(manager).post(reverse("monitoring:schedule_edit", args=[other.schedule_id]), {
        "project": project.pk, "workflow_name": "nightly", "cron_expression": "0 * * * *", "timezone": "UTC",
        "grace_period_seconds": 300,
    })
    assert response.status_code == 422
    other.refresh_from_db()
    assert other.workflow_name == "hourly"


def test_unknown_schedule_is_404_and_non_managers_are_403(client_for, manager, viewer, schedule):
    assert client_for(manager).get(reverse("monitoring:schedule_edit", args=["sch_nope"])).status_code == 404
    url = reverse("monitoring:schedule_edit", args=[schedule.schedule_id])
    assert client_for(viewer).get(url).status_code == 403
    assert client_for(viewer).post(url, {"cron_expression": "* * * * *"}).status_code == 403
    assert _preview(client_for(viewer), url, cron_expression="* * * * *").status_code == 403


def test_htmx_delete_after_confirmation_redirects_the_page(client_for, manager, schedule):
    response = client_for(manager).post(reverse("monitoring:schedule_delete", args=[schedule.schedule_id]),
                                        headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("monitoring:schedules")
    assert not WorkflowSchedule.objects.exists()


def test_delete_and_remove_buttons_ask_for_confirmation(client_for, manager, schedule):
    from monitoring.models import HealthCheck

    HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/")
    client = client_for(manager)
    assert 'hx-confirm="Delete the schedule for nightly (production)?' in client.get(reverse("monitoring:schedules")).content.decode()
    assert "hx-confirm=\"Remove the health check “API”?" in client.get(reverse("monitoring:health")).content.decode()
