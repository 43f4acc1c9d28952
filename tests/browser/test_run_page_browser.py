"""The run page as a person reads it, in a real browser: the Watch buttons sit in the run's card beside its name
(under the back link, not above it) and survive a live refresh; the page fits a phone; the "nobody is told" note
says in words which settings to set."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.runs import finish_run, start_run
from projects.models import Membership, Role


@pytest.mark.parametrize("width", [1366, 390])
def test_the_watch_buttons_are_in_the_runs_card_and_survive_a_refresh(page, live_server, login, screenshot, project,
                                                                      manager, settings, width):
    settings.MONITORING_NOTIFICATIONS = []
    Membership.objects.create(project=project, user=manager, role=Role.VIEWER)
    started = timezone.now() - timedelta(minutes=5)
    run, _ = start_run(project, run_id="nightly-17", workflow_name="nightly-backup", started_at=started)
    page.set_viewport_size({"width": width, "height": 900})
    login(manager)
    page.goto(f"{live_server.url}/monitoring/runs/{run.pk}/")

    card = page.locator("#live .card").first
    watch_run = card.get_by_role("button", name="Watch this run")
    expect(watch_run).to_be_visible()
    expect(card.get_by_role("button", name="Watch this workflow")).to_be_visible()
    back = page.get_by_role("link", name="← Overview")
    heading = card.get_by_role("heading", name="nightly-backup")
    back_box, heading_box, button_box = back.bounding_box(), heading.bounding_box(), watch_run.bounding_box()
    assert back_box and heading_box and button_box
    assert back_box["y"] + back_box["height"] <= button_box["y"]  # the back link first, the buttons in the card
    assert button_box["y"] < heading_box["y"] + heading_box["height"] + 60  # beside (or just under) the run's name
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling

    watch_run.click()
    expect(card.get_by_role("button", name="Stop watching this run")).to_be_visible()
    # The run finishes and the page refreshes its live block: the buttons keep their state (hx-preserve).
    page.evaluate("document.getElementById('watch-run').dataset.kept = 'yes'")  # the same element after the refresh
    finish_run(project, "nightly-17", status="SUCCESS", completed_at=timezone.now())
    page.evaluate("document.body.dispatchEvent(new Event('monitoring-changed'))")
    expect(page.locator("#live .card").first).to_contain_text("Success")
    expect(page.get_by_role("button", name="Stop watching this run")).to_be_visible()
    assert page.locator("#watch-run").count() == 1
    expect(page.locator("#watch-run")).to_have_attribute("data-kept", "yes")  # preserved, not fetched again

    note = page.locator("#no-alert-channel")
    expect(note).to_contain_text("No alert channel is configured: nobody is told about failures yet.")
    expect(note).to_contain_text("MONITORING_EMAIL_TO with the on-call address")
    expect(note).to_contain_text("MONITORING_SLACK_WEBHOOK_URL with a Slack incoming-webhook URL")
    expect(note).to_contain_text("DELIVERY_ALERT_MAX_ATTEMPTS")
    screenshot(f"run-page-{width}")
    page.emulate_media(color_scheme="dark")
    screenshot(f"run-page-{width}-dark")
