"""Health checks in a real browser: edit a check from the board and see the change; removing one asks first."""

import pytest
from playwright.sync_api import expect

from monitoring.models import HealthCheck

LAPTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


@pytest.mark.allow_console('status of 422 (Unprocessable Entity)')  # the test provokes this answer on purpose
def test_manager_edits_a_check_from_the_board_and_removing_it_asks_first(page, live_server, login, screenshot,
                                                                        project, manager):
    check = HealthCheck.objects.create(project=project, check_id="api", check_name="Public API",
                                       url="https://api.example/health")
    page.set_viewport_size(LAPTOP)
    login(manager)
    page.goto(f"{live_server.url}/monitoring/health/")
    page.locator("[data-check='api']").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit the health check Public API")).to_be_visible()
    expect(page.get_by_label("URL")).to_have_value("https://api.example/health")

    page.get_by_label("URL").fill("ftp://files.example/")
    page.get_by_role("button", name="Save check").click()
    expect(page.get_by_text("Enter an http:// or https:// URL.")).to_be_visible()
    screenshot("monitoring-health-edit-error")

    page.get_by_label("URL").fill("https://api.example/ready")
    page.get_by_label("Method").select_option("HEAD")
    page.get_by_label("Timeout (ms)").fill("2500")
    page.get_by_label("Interval (seconds)").fill("120")
    page.get_by_label("Environment").fill("staging")
    screenshot("monitoring-health-edit-laptop")
    page.set_viewport_size(PHONE)
    screenshot("monitoring-health-edit-phone")
    page.emulate_media(color_scheme="dark")
    screenshot("monitoring-health-edit-phone-dark")
    page.set_viewport_size(LAPTOP)
    screenshot("monitoring-health-edit-laptop-dark")
    page.emulate_media(color_scheme="light")
    page.get_by_role("button", name="Save check").click()

    card = page.locator("[data-check='api']")
    expect(page.get_by_text("Health check Public API saved.")).to_be_visible()
    expect(card).to_contain_text("HEAD https://api.example/ready")
    expect(card).to_contain_text("within 2500 ms, every 120 s")
    expect(card).to_contain_text("staging")
    check.refresh_from_db()
    assert (check.url, check.method, check.timeout_ms, check.interval_seconds, check.environment) == (
        "https://api.example/ready", "HEAD", 2500, 120, "staging")
    card.get_by_role("link", name="Edit").click()  # the edit page now shows what is stored
    expect(page.get_by_label("URL")).to_have_value("https://api.example/ready")
    expect(page.get_by_label("Method")).to_have_value("HEAD")

    # Removing from the edit page asks first: dismissing keeps the check, accepting removes it.
    asked: list[str] = []

    def note_and_dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", note_and_dismiss)
    page.get_by_role("button", name="Remove check").click()
    expect(page.get_by_role("button", name="Remove check")).to_be_visible()
    assert asked == ["Remove the health check “Public API”? Its past results are kept."]
    assert HealthCheck.objects.filter(pk=check.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove check").click()
    expect(page.get_by_text("Health check Public API removed")).to_be_visible()
    expect(page.locator("[data-check='api']")).to_have_count(0)
    assert not HealthCheck.objects.exists()
