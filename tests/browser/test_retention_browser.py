"""Retention in a real browser: a bad value is explained with no confirmation; a valid one that would remove
activity is confirmed first, saying how many events and actions go and when; one that removes nothing just saves."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from events.models import ActivityEvent, ProjectAction
from processes.models import PeriodicJob


def old_activity(project):
    now = timezone.now()
    for days in (40, 50, 60):
        ActivityEvent.objects.create(project=project, event_type="INDEXING_COMPLETED", entity_type="indexing",
                                     title=f"Indexed {days} days ago", status="COMPLETED",
                                     created_at=now - timedelta(days=days))
    ActivityEvent.objects.create(project=project, event_type="INDEXING_COMPLETED", entity_type="indexing",
                                 title="Indexed today", status="COMPLETED")
    ProjectAction.objects.create(project=project, action_type="deployment", created_at=now - timedelta(days=90))
    PeriodicJob.objects.update_or_create(name="prune-activity", defaults={"next_run_at": now + timedelta(hours=5)})


@pytest.mark.allow_console('status of 422 (Unprocessable Entity)')  # the test provokes this answer on purpose
@pytest.mark.parametrize("width", [1366, 390])
def test_retention_asks_only_for_a_valid_value_and_says_how_much_goes_and_when(page, live_server, login, screenshot,
                                                                              project, owner, width):
    old_activity(project)
    dialogs: list[str] = []

    def note_and_dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", note_and_dismiss)
    page.set_viewport_size({"width": width, "height": 900})
    if width == 390:
        page.emulate_media(color_scheme="dark")
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    card = page.locator("#retention")
    expect(card).to_contain_text("180 days")

    # Out of range: the card says why, in place; no confirmation is offered and nothing is stored.
    card.get_by_label("Keep activity for (days)").fill("0")
    card.get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention")).to_contain_text("at least 1 day")
    expect(page.locator("#retention-confirm")).to_have_count(0)
    project.refresh_from_db()
    assert project.retention_days == 180

    # Valid and shorter: the confirmation says how many go and when; nothing is saved yet.
    page.locator("#retention").get_by_label("Keep activity for (days)").fill("30")
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    confirm = page.locator("#retention-confirm")
    expect(confirm).to_contain_text("Keeping 30 days removes 3 activity events and 1 audit action created before")
    expect(confirm).to_contain_text("at the next daily pruning")
    expect(confirm).to_contain_text("in about 5 hours")
    screenshot(f"retention-confirm-{width}")
    project.refresh_from_db()
    assert project.retention_days == 180

    # Cancel keeps what was stored.
    confirm.get_by_role("link", name="Cancel").click()
    expect(page.locator("#retention")).to_contain_text("180 days")
    expect(page.locator("#retention-confirm")).to_have_count(0)

    page.locator("#retention").get_by_label("Keep activity for (days)").fill("30")
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    page.locator("#retention-confirm").get_by_role("button", name="Keep 30 days and remove them").click()
    expect(page.locator("#retention").get_by_role("status")).to_contain_text("older than 30 days will be removed")
    project.refresh_from_db()
    assert project.retention_days == 30

    # Longer again: nothing would go, so it saves without asking.
    page.locator("#retention").get_by_label("Keep activity for (days)").fill("365")
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention").get_by_role("status")).to_contain_text("older than 365 days will be removed")
    project.refresh_from_db()
    assert project.retention_days == 365
    assert not dialogs  # no browser dialog at any point: the card itself asks
    fit = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert fit[0] <= fit[1]
    screenshot(f"retention-saved-{width}")
