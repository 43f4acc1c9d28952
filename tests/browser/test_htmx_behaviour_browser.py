"""htmx in a real browser: Back restores the filters, errors never wipe the page (DEBUG on too), the loading
indicator shows, and no htmx swap breaks the strict CSP."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from events.models.messages import Conversation, Message
from projects.models import ApiKey

from .test_activity_browser import fill_feed


def feed_url(live_server, project, query=""):
    return f"{live_server.url}/projects/{project.slug}/activity/{query}"


def test_back_and_forward_keep_the_filter_panel_matching_the_url(page, live_server, login, project, viewer):
    fill_feed(project, count=24)
    login(viewer)
    page.goto(feed_url(live_server, project))
    rows = page.locator("#feed-rows tr.event-row")
    failed, category = page.get_by_label("Failed"), page.get_by_label("Category")
    expect(rows).to_have_count(24)

    failed.check()
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(rows).to_have_count(3)
    category.select_option("auto_fix")
    expect(page).to_have_url(re.compile(r"category=auto_fix"))

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"category=auto_fix"))
    expect(rows).to_have_count(3)
    expect(failed).to_be_checked()
    expect(category).to_have_value("")

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"status=FAILED"))
    expect(rows).to_have_count(24)
    expect(failed).not_to_be_checked()

    page.go_forward()
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(failed).to_be_checked()
    expect(category).to_have_value("")
    page.go_forward()
    expect(category).to_have_value("auto_fix")
    expect(failed).to_be_checked()


def test_back_from_an_event_keeps_the_filters(page, live_server, login, project, viewer):
    fill_feed(project, count=12)
    login(viewer)
    page.goto(feed_url(live_server, project))
    rows = page.locator("#feed-rows tr.event-row")
    page.get_by_label("Failed").check()
    expect(rows).to_have_count(2)
    # The browser's Back from the detail page to a URL htmx pushed: the whole page (not a cached fragment).
    page.get_by_role("link", name="Auto-fix failed #8").click()
    expect(page.locator("pre.metadata")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("navigation", name="Project sections")).to_be_visible()
    expect(page.get_by_label("Failed")).to_be_checked()
    expect(rows).to_have_count(2)
    # The page's own "Back to the activity feed" link.
    page.get_by_role("link", name="Auto-fix failed #0").click()
    page.get_by_role("link", name="Back to the activity feed").click()
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(page.get_by_label("Failed")).to_be_checked()
    expect(rows).to_have_count(2)


@pytest.mark.allow_console('status of 400 (Bad Request)')  # the test provokes this answer on purpose
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_a_400_answer_lands_in_the_results_and_the_page_stays(page, live_server, login, project, viewer, settings, debug):
    settings.DEBUG = debug
    fill_feed(project, count=5)
    login(viewer)
    page.goto(feed_url(live_server, project))
    page.get_by_label("From", exact=True).fill("2026-05-10")
    page.get_by_label("To", exact=True).fill("2026-05-01")
    results = page.locator("#feed-results")
    expect(results.get_by_role("alert")).to_contain_text("To: The end date must be on or after the start date.")
    expect(page.get_by_role("navigation", name="Project sections")).to_be_visible()  # the page is still there
    expect(page.get_by_label("Search")).to_be_visible()


@pytest.mark.allow_console('status of 404 (Not Found)', 'Response Status Error Code 404 from')  # the test provokes this answer on purpose
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_a_404_answer_becomes_a_message_and_the_page_stays(page, live_server, login, project, owner, viewer, settings, debug):
    settings.DEBUG = debug
    key, _ = ApiKey.objects.create_key(project=project, name="ci", scope="read", created_by=owner)
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    # Gone without a trace (keys are only ever revoked in the app): the revoke answers 404. (A stale tab's
    # member Remove no longer does: the row leaves the screen, see test_ping_and_small_things_browser.py.)
    ApiKey.objects.filter(pk=key.pk).delete()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#api-key-{key.pk}").get_by_role("button", name="Revoke").click()
    expect(page.locator("#flash")).to_have_text("That no longer exists.")
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)  # still our page, not an error document


def held_answers(page, pattern):
    """Hold requests matching `pattern` (unanswered, in flight) until the returned release() lets them through.

    The route handler only keeps the route: Playwright's sync API runs handlers on the test's own thread, so a
    handler that waited would stall the very assertions that watch the page while the request is pending."""
    held: list[Any] = []  # playwright Routes, answered later
    released: list[Any] = []

    def hold(route):
        if released:
            route.continue_()
        else:
            held.append(route)

    def release():
        for _ in range(200):  # the request is sent when the indicator lights; its route event may come just after
            if held:
                break
            page.wait_for_timeout(25)
        assert held, f"no request matching {pattern} was sent"
        released.append(True)
        for route in held:
            route.continue_()

    page.route(re.compile(pattern), hold)
    return release


def test_a_loading_indicator_shows_while_filters_apply(page, live_server, login, project, viewer):
    fill_feed(project, count=5)
    login(viewer)
    page.goto(feed_url(live_server, project))
    indicator = page.locator("#loading")
    expect(indicator).to_have_css("opacity", "0")
    release = held_answers(page, r".*/activity/\?.*status=FAILED.*")
    page.get_by_label("Failed").check()
    expect(indicator).to_have_css("opacity", "1")
    release()
    expect(page.locator("#feed-rows tr.event-row")).to_have_count(1)
    expect(indicator).to_have_css("opacity", "0")
    page.go_back()
    expect(page.get_by_label("Failed")).not_to_be_checked()
    expect(indicator).to_have_css("opacity", "0")  # the history snapshot does not keep it lit


def test_a_loading_indicator_shows_while_feedback_is_sent(page, live_server, login, project, viewer):
    conversation = Conversation.objects.create(project=project, title="Rotating API keys")
    Message.objects.create(conversation=conversation, role="assistant", content="Create a second key, then revoke.")
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/conversations/{conversation.pk}/")
    indicator = page.locator("#loading")
    release = held_answers(page, r".*/feedback/$")
    page.get_by_role("button", name="Helpful", exact=True).click()
    expect(indicator).to_have_css("opacity", "1")
    release()
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(indicator).to_have_css("opacity", "0")


@pytest.mark.allow_console('status of 400 (Bad Request)')  # the test provokes this answer on purpose
def test_a_filtering_session_breaks_no_csp_rule(page, live_server, login, project, viewer, settings):
    settings.DEBUG = True  # as in the demo
    settings.ACTIVITY_POLL_SECONDS = 1
    fill_feed(project, count=64)
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    login(viewer)
    page.goto(feed_url(live_server, project))
    rows = page.locator("#feed-rows tr.event-row")
    page.get_by_label("Failed").check()
    expect(rows).to_have_count(8)
    page.get_by_label("Category").select_option("auto_fix")
    expect(page).to_have_url(re.compile(r"category=auto_fix"))
    page.get_by_label("Search").fill("Indexed")
    page.get_by_label("Search").press("Enter")
    expect(page.locator("#feed-results")).to_contain_text("No events match these filters")
    page.go_back()
    expect(rows).to_have_count(8)
    page.get_by_label("From", exact=True).fill("2026-05-10")
    page.get_by_label("To", exact=True).fill("2026-05-01")
    expect(page.locator("#feed-results").get_by_role("alert")).to_contain_text("The end date must be on or after")
    page.get_by_role("link", name="Clear").click()
    page.locator("#load-more").scroll_into_view_if_needed()
    expect(rows).to_have_count(64)
    page.wait_for_timeout(1500)  # a round of the new-events poll
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Audit log").click()
    page.get_by_label("Search").fill("deploy")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"q=deploy"))
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Insights").click()
    page.get_by_label("Window").select_option("7")
    expect(page).to_have_url(re.compile(r"days=7"))
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
    # Chromium logs every 4xx answer; the one 400 above is expected, anything else is a problem.
    assert [p for p in problems if not p.startswith("Failed to load resource: the server responded with a status of 400")] == []
