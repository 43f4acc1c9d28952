"""Schedules in a real browser: the cron reading updates while typing, edits save, deleting asks first."""

import pytest
from playwright.sync_api import expect

from monitoring.models import HealthCheck, WorkflowSchedule


@pytest.mark.allow_console('status of 422 (Unprocessable Entity)')  # the test provokes this answer on purpose
def test_manager_edits_a_schedule_with_a_live_cron_reading_and_confirms_deletes(
    page, live_server, login, screenshot, project, manager
):
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="0 2 * * *")
    HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/")
    login(manager)
    get_urls: list[str] = []
    page.on("request", lambda request: get_urls.append(request.url) if request.method == "GET" else None)
    page.goto(f"{live_server.url}/monitoring/schedules/")
    page.locator("tr[data-schedule='nightly']").get_by_role("link", name="Edit").click()
    preview = page.locator("#cron-preview")
    expect(preview).to_contain_text("At 02:00, every day")

    page.get_by_label("Cron expression").fill("*/15 9-17 * * 1-5")
    expect(preview).to_contain_text("Every 15 minutes, between 09:00 and 17:59, Monday through Friday")
    expect(preview.locator("li")).to_have_count(5)
    page.get_by_label("Cron expression").fill("0 9 * *")
    expect(preview).to_contain_text("has 4")
    page.get_by_label("Cron expression").fill("30 6 * * *")
    page.get_by_label("Timezone").select_option("Europe/Berlin")
    expect(preview).to_contain_text("(Europe/Berlin time)")
    expect(preview).to_contain_text("At 06:30, every day")
    screenshot("monitoring-schedule-edit")
    # The live reading asks with the two fields it reads: a GET URL (and the access log) never holds the CSRF token.
    previews = [url for url in get_urls if "cron_expression=" in url]
    assert previews and not [url for url in get_urls if "csrfmiddlewaretoken" in url]
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("tr[data-schedule='nightly']")).to_contain_text("30 6 * * *")
    schedule.refresh_from_db()
    assert (schedule.cron_expression, schedule.timezone) == ("30 6 * * *", "Europe/Berlin")

    # Deleting asks first: dismissing keeps the schedule, accepting deletes it.
    row = page.locator("tr[data-schedule='nightly']")
    asked: list[str] = []

    def note_and_dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", note_and_dismiss)
    row.get_by_role("button", name="Delete").click()
    expect(row).to_be_visible()
    assert asked and "Delete the schedule for nightly" in asked[0]
    assert WorkflowSchedule.objects.exists()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Schedule for nightly deleted")).to_be_visible()
    assert not WorkflowSchedule.objects.exists()

    page.goto(f"{live_server.url}/monitoring/health/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("[data-check='api']").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Health check API removed")).to_be_visible()
    assert not HealthCheck.objects.exists()
