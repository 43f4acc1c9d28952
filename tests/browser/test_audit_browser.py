"""The audit log in a real browser: a retention change, a rotated webhook secret and a removed health check, each
shown with who did it and from which address, and found again by the actor and action filters."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from monitoring.models import HealthCheck
from notifications.models import Channel, Subscription


@pytest.mark.parametrize("width", [1366, 390])
def test_the_audit_log_shows_who_changed_what_from_where(page, live_server, login, screenshot, project, owner, width):
    owner.groups.add(Group.objects.get_or_create(name="managers")[0])
    subscription = Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK,
                                               target_url="http://127.0.0.1:9/hook", secret="whsec_x")
    HealthCheck.objects.create(project=project, check_id="api", check_name="Public API",
                               url="http://127.0.0.1:9/health")
    page.on("dialog", lambda dialog: dialog.accept())  # the Remove button's confirmation
    page.set_viewport_size({"width": width, "height": 900})
    if width == 390:
        page.emulate_media(color_scheme="dark")
    login(owner)

    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    page.locator("#retention").get_by_label("Keep activity for (days)").fill("30")
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention").get_by_role("status")).to_contain_text("older than 30 days will be removed")

    page.goto(f"{live_server.url}/projects/{project.slug}/settings/notifications/{subscription.pk}/")
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_text("Secret rotated.")).to_be_visible()

    page.goto(f"{live_server.url}/monitoring/health/")
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Health check Public API removed")).to_be_visible()

    page.goto(f"{live_server.url}/projects/{project.slug}/audit/")
    rows = page.locator("#audit-rows > li.timeline-item")
    expect(rows).to_have_count(3)
    for action, label, change in (("retention_changed", "Retention changed", "180 → 30"),
                                  ("subscription_secret_rotated", "Webhook secret rotated", None),
                                  ("health_check_removed", "Health check removed", None)):
        row = page.locator(f'#audit-rows > li[data-action="{action}"]')
        expect(row).to_contain_text(label)
        expect(row.locator(".actor")).to_have_text(owner.username)
        expect(row.locator(".address")).to_have_text("127.0.0.1")
        if change:
            expect(row).to_contain_text(change)
    screenshot(f"audit-log-{width}")

    # Filter by action, then by an actor nobody is: the page says so.
    if page.locator("details.filter-panel").get_attribute("open") is None:  # collapsed behind a button on a phone
        page.locator("details.filter-panel summary").click()
    page.get_by_label("Actor").fill("nobody-at-all")
    page.get_by_label("Actor").press("Enter")
    expect(page.locator("#audit-results")).to_contain_text("No actions match these filters")
    page.get_by_label("Actor").fill(owner.username)
    page.get_by_label("Actor").press("Enter")
    expect(page.locator("#audit-rows > li.timeline-item")).to_have_count(3)
    fit = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert fit[0] <= fit[1]
