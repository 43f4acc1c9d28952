"""The monitoring dashboard in a real browser: overview with trend, live refresh, health board, reports, log."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.models import HealthCheck, NotificationLog, WorkflowSchedule
from monitoring.runs import finish_run, start_run


def _runs(project, name, statuses, hours_apart=5):
    now = timezone.now()
    for i, status in enumerate(statuses):
        start = now - timedelta(hours=hours_apart * (len(statuses) - i))
        start_run(project, run_id=f"{name}-{i}", workflow_name=name, started_at=start)
        finish_run(project, f"{name}-{i}", status=status, completed_at=start + timedelta(seconds=40 + 5 * i),
                   error_message="3 tests failed" if status == "FAILED" else None)


@pytest.mark.allow_console('status of 422 (Unprocessable Entity)')  # the test provokes this answer on purpose
def test_manager_watches_workflows_live_and_manages_checks_and_reports(
    page, live_server, login, screenshot, project, manager
):
    _runs(project, "nightly-backup", ["SUCCESS"] * 20 + ["FAILED", "SUCCESS"])
    _runs(project, "api-tests", ["SUCCESS", "FAILED", "SUCCESS", "SUCCESS"] * 5)
    WorkflowSchedule.objects.create(project=project, workflow_name="nightly-backup", cron_expression="0 2 * * *")
    NotificationLog.objects.create(event_type="workflow_failed", channel="slack", target="http://127.0.0.1:9/",
                                   subject="Workflow failed: api-tests", text="m", delivery_id="b1", delivery_key="b1", source="run",
                                   state="gave_up", error="HTTP 503")

    login(manager)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Monitoring").click()
    table = page.locator("table.mon-workflows")
    expect(table.locator("tr[data-workflow='nightly-backup']")).to_contain_text("0 2 * * *")
    expect(table.locator("tr[data-workflow='api-tests'] svg.mon-spark rect.bar-ok").first).to_be_visible()
    screenshot("monitoring-overview")

    # A run fails while the manager watches: the live block refreshes in place (no page load).
    page.evaluate("window.__sameDocument = true")
    _runs(project, "deploy-prod", ["FAILED"], hours_apart=0)
    page.get_by_role("link", name="Refresh now").click()
    row = table.locator("tr[data-workflow='deploy-prod']")
    expect(row).to_contain_text("failing")
    expect(row).to_contain_text("3 tests failed")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator(".mon-summary")).to_contain_text("1failing now")
    screenshot("monitoring-overview-after-refresh")

    # Health board: add a check; a bad value is explained first.
    page.get_by_role("navigation", name="Monitoring sections").get_by_role("link", name="Health checks").click()
    page.get_by_label("Check name").fill("Login page")
    page.get_by_label("URL").fill(f"{live_server.url}/login/")
    page.get_by_label("Timeout (ms)").fill("5")
    page.get_by_role("button", name="Add check").click()
    expect(page.get_by_text("Timeout must be between 100 and 60000 ms.")).to_be_visible()
    page.get_by_label("Timeout (ms)").fill("2000")
    page.get_by_role("button", name="Add check").click()
    expect(page.locator("[data-check='login-page']")).to_contain_text("not run yet")
    assert HealthCheck.objects.get().url == f"{live_server.url}/login/"
    screenshot("monitoring-health")

    # Reports: generate one now and read its per-workflow breakdown.
    page.get_by_role("navigation", name="Monitoring sections").get_by_role("link", name="Reports").click()
    page.get_by_role("button", name="Generate report").click()
    expect(page.get_by_role("heading", name="Per workflow")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("nightly-backup")
    screenshot("monitoring-report")

    page.get_by_role("navigation", name="Monitoring sections").get_by_role("link", name="Notifications").click()
    expect(page.locator("#live")).to_contain_text("HTTP 503")
    expect(page.locator("#live")).to_contain_text("Failed (no retries left)")
    screenshot("monitoring-notifications")


@pytest.mark.allow_console('status of 403 (Forbidden)')  # the test provokes this answer on purpose
def test_non_manager_sees_403(page, live_server, login, owner):
    login(owner)
    response = page.goto(f"{live_server.url}/monitoring/")
    assert response.status == 403


def test_open_dashboard_shows_a_finished_run_within_two_seconds_without_reloading(
    page, live_server, login, project, manager
):
    _runs(project, "nightly-backup", ["SUCCESS"] * 3)
    login(manager)
    page.goto(f"{live_server.url}/monitoring/")
    expect(page.locator("tr[data-workflow='nightly-backup']")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    now = timezone.now()
    start_run(project, run_id="live-1", workflow_name="deploy-prod", started_at=now - timedelta(seconds=30))
    finish_run(project, "live-1", status="FAILED", completed_at=now, error_message="migration failed")
    row = page.locator("tr[data-workflow='deploy-prod']")
    expect(row).to_contain_text("migration failed", timeout=2500)
    assert page.evaluate("window.__sameDocument") is True
