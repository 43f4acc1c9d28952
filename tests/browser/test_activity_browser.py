import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from events.models.activity import ActivityEvent, EventStatus, EventType
from events.tracking import track_event


def fill_feed(project, count=64):
    now = timezone.now()
    ActivityEvent.objects.bulk_create(
        ActivityEvent(
            project=project, event_type=EventType.AUTO_FIX_FAILED if i % 8 == 0 else EventType.INDEXING_COMPLETED,
            status=EventStatus.FAILED if i % 8 == 0 else EventStatus.COMPLETED, entity_type="indexing",
            title=f"{'Auto-fix failed' if i % 8 == 0 else 'Indexed main'} #{i}", duration=1000 + i,
            metadata={"n": i}, created_at=now - timedelta(minutes=5 + i),
        )
        for i in range(count)
    )


def test_member_filters_scrolls_and_sees_new_events_banner(page, live_server, login, screenshot, project, viewer, settings):
    settings.ACTIVITY_POLL_SECONDS = 1
    fill_feed(project)
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    rows = page.locator("#feed-rows tr.event-row")
    expect(rows).to_have_count(50)

    # Filter: only failures; the URL follows the filters (shareable) without a page load.
    page.get_by_label("Failed").check()
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(rows).to_have_count(8)
    expect(page.locator("#feed-rows")).not_to_contain_text("Indexed main")
    screenshot("activity-feed-filtered")

    # Back to everything, then scroll: the next page loads by itself (keyset cursor), ending the feed.
    page.get_by_label("Failed").uncheck()
    expect(rows).to_have_count(50)
    page.locator("#load-more").scroll_into_view_if_needed()
    expect(rows).to_have_count(64)
    expect(page.locator(".end-of-feed")).to_be_visible()

    # A new event is recorded: the polling banner announces it, and clicking shows it at the top.
    page.evaluate("window.scrollTo(0, 0)")
    track_event(project=project, event_type=EventType.CHAT_MESSAGE_SENT, entity_type="chat_message",
                title="Fresh question about webhooks", status=EventStatus.COMPLETED)
    banner = page.locator("#new-events .banner")
    expect(banner).to_have_text(re.compile(r"1 new event"), timeout=10_000)
    screenshot("activity-feed-banner")
    banner.click()
    expect(rows.first).to_contain_text("Fresh question about webhooks")
    expect(page.locator("#new-events .banner")).to_have_count(0)


def test_event_detail_and_insights_render(page, live_server, login, screenshot, project, viewer):
    fill_feed(project, count=12)
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    page.get_by_role("link", name="Auto-fix failed #0").click()
    expect(page.locator("pre.metadata")).to_contain_text('"n": 0')
    screenshot("activity-event-detail")
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Insights").click()
    expect(page.get_by_role("img", name=re.compile("Bar chart"))).to_be_visible()
    screenshot("activity-insights")
