"""The live feed in a real browser, served by a real ASGI server (uvicorn on loopback): an event recorded through
the API appears in the open feed within a second without any poll, and a stream killed with the server reconnects
and shows what was recorded while it was down."""

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from events.ingest import ingest_events, validate_event
from tests.api_fixtures import *  # noqa: F403
from tests.asgi_server import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, server, user):
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(f"pw-{user.username}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")


def post_event(server, token, title):
    body = json.dumps({"event_type": "TEST_GENERATION", "title": title, "entity_type": "suite"}).encode()
    request = urllib.request.Request(f"{server.url}/api/v1/events", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def open_feed(page, server, project):
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "newer_than=" in request.url else None)
    page.goto(f"{server.url}/projects/{project.slug}/activity/")
    expect(page.locator("#feed-results[data-live-open]")).to_be_attached()  # the stream is open
    return polls


@pytest.mark.parametrize("width", [1366, 390])
def test_an_event_recorded_through_the_api_appears_in_the_open_feed_within_a_second(
        page, asgi_server, project, viewer, write_token, screenshot, width):
    ingest_events(project, [validate_event(event_type="CODE_SCAFFOLDING", title="Scaffolded the service", entity_type="repo")])
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, asgi_server, viewer)
    polls = open_feed(page, asgi_server, project)
    post_event(asgi_server, write_token, "Wrote the login tests")
    row = page.locator("#feed-rows tr", has_text="Wrote the login tests")
    expect(row).to_be_visible(timeout=1_000)
    expect(page.locator("#feed-rows tr").first).to_contain_text("Wrote the login tests")  # on top, newest first
    assert polls == []  # pushed: the new-events poll never ran
    page.emulate_media(color_scheme="dark")
    screenshot(f"live-feed-{width}-dark")


# Chromium reports the dropped stream and each refused reconnect as console errors, and htmx logs the SSE error.
@pytest.mark.allow_console("ERR_CONNECTION_REFUSED", "ERR_INCOMPLETE_CHUNKED_ENCODING", "EventSource", "Event",
                           "ERR_EMPTY_RESPONSE", "net::")
def test_a_killed_stream_reconnects_and_shows_what_it_missed(page, asgi_server, project, viewer, write_token):
    ingest_events(project, [validate_event(event_type="CODE_SCAFFOLDING", title="Scaffolded the service", entity_type="repo")])
    sign_in(page, asgi_server, viewer)
    reconnects = []
    page.on("request", lambda request: reconnects.append(request.all_headers().get("last-event-id"))
            if "/activity/live/" in request.url else None)
    open_feed(page, asgi_server, project)
    post_event(asgi_server, write_token, "Before the drop")
    expect(page.locator("#feed-rows tr", has_text="Before the drop")).to_be_visible()

    asgi_server.kill()  # every open stream drops
    expect(page.locator("#feed-results[data-live-open]")).to_have_count(0)
    ingest_events(project, [validate_event(event_type="TEST_GENERATION", title="While the stream was down", entity_type="suite")])
    time.sleep(0.5)
    asgi_server.restart()

    expect(page.locator("#feed-rows tr", has_text="While the stream was down")).to_be_visible(timeout=10_000)
    expect(page.locator("#feed-rows tr", has_text="Before the drop")).to_have_count(1)  # replayed, not doubled
    assert any(reconnects[1:]), reconnects  # the reconnect said where it left off (Last-Event-ID)
