"""The live pages' streams (events/views/live.py, monitoring/stream.py) through a real ASGI server: what a page is
pushed, resuming with Last-Event-ID, and who may hold a stream (outsider 404, a removed member's stream closes)."""

import json
import urllib.request
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events.ingest import ingest_events, update_event, validate_event
from events.models.activity import ActivityEvent
from events.views import live as live_views
from monitoring.runs import finish_run, start_run
from projects.actions import remove_membership
from projects.models import Membership
from tests.api_fixtures import *  # noqa: F403
from tests.asgi_server import *  # noqa: F403
from tests.asgi_server import SseReader, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def feed_stream(project, top=""):
    return reverse("events:feed_stream", args=[project.slug]) + (f"?top={top}" if top else "")


def record(project, title, **fields):
    item = validate_event(event_type="TEST_GENERATION", title=title, entity_type="suite", **fields)
    return ingest_events(project, [item])[0][0]


def post_event(server, token, title):
    body = json.dumps({"event_type": "TEST_GENERATION", "title": title, "entity_type": "suite"}).encode()
    request = urllib.request.Request(f"{server.url}/api/v1/events", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())["id"]


def test_an_event_recorded_through_the_api_is_pushed_to_an_open_feed(asgi_server, project, viewer, write_token):
    stream = SseReader(asgi_server, feed_stream(project), session_cookie(viewer))
    assert stream.status == 200 and stream.response.headers["Content-Type"] == "text/event-stream"
    event_id = post_event(asgi_server, write_token, "Wrote the login tests")
    message = stream.until("new-rows")
    assert f'id="event-{event_id}"' in message["data"] and "Wrote the login tests" in message["data"]
    assert int(message["id"]) > 0  # a database time: what a reconnect resumes from
    stream.close()


def test_a_finished_event_is_pushed_as_its_row(asgi_server, project, viewer):
    event = record(project, "Indexing docs", status="IN_PROGRESS")
    stream = SseReader(asgi_server, feed_stream(project), session_cookie(viewer))
    stream.until("new-rows")  # within the replay window: the page may not have it yet
    update_event(ActivityEvent.objects.get(pk=event.pk), status="COMPLETED", duration=1200)
    message = stream.until(f"event-{event.pk}")
    assert "Completed" in message["data"] and 'sse-swap' not in message["data"]  # finished rows listen no more
    stream.close()


# EventSource's own reconnect sends the header; a new EventSource (after a failed reconnect) sends the parameter.
@pytest.mark.parametrize("resume", ["header", "parameter"])
def test_a_reconnect_with_last_event_id_replays_what_was_missed(asgi_server, project, viewer, resume, monkeypatch):
    monkeypatch.setattr(live_views, "LAG", timedelta(0))  # only the id can bring back what was missed
    cookie = session_cookie(viewer)
    first = SseReader(asgi_server, feed_stream(project), cookie)
    record(project, "Before the drop")
    last_id = first.until("new-rows")["id"]
    first.close()  # the connection drops
    missed = record(project, "While it was away")
    if resume == "header":
        again = SseReader(asgi_server, feed_stream(project), cookie, last_event_id=last_id)
    else:
        again = SseReader(asgi_server, feed_stream(project) + f"?last_event_id={last_id}", cookie)
    message = again.until("new-rows")
    assert f'id="event-{missed.pk}"' in message["data"]
    again.close()
    fresh = SseReader(asgi_server, feed_stream(project), cookie, timeout=2)
    with pytest.raises(TimeoutError):
        fresh.next()  # opened after the fact without an id: nothing to replay
    fresh.close()


def test_only_rows_matching_the_feed_filters_are_prepended(asgi_server, project, viewer):
    stream = SseReader(asgi_server, feed_stream(project) + "?status=FAILED", session_cookie(viewer))
    record(project, "Green build", status="COMPLETED")
    failed = record(project, "Red build", status="FAILED")
    message = stream.until("new-rows")
    assert f'id="event-{failed.pk}"' in message["data"] and "Green build" not in message["data"]
    stream.close()


def test_outsider_gets_404_on_the_feed_stream(asgi_server, project, outsider):
    stream = SseReader(asgi_server, feed_stream(project), session_cookie(outsider))
    assert stream.status == 404
    stream.close()


def test_a_removed_members_stream_is_told_to_close(asgi_server, project, owner, viewer):
    stream = SseReader(asgi_server, feed_stream(project), session_cookie(viewer))
    remove_membership(Membership.objects.get(project=project, user=viewer))  # what the Settings page's Remove calls
    assert stream.until("close")["event"] == "close"
    assert stream.next() is None  # and the server ends it
    stream.close()


def test_monitoring_stream_says_changed_when_a_run_finishes(asgi_server, project, manager):
    stream = SseReader(asgi_server, reverse("monitoring:stream") + "?since=stale", session_cookie(manager))
    token = stream.until("changed")["id"]  # the page's token was stale: told at once
    now = timezone.now()
    start_run(project, run_id="r1", workflow_name="nightly", started_at=now)
    finish_run(project, "r1", status="FAILED", completed_at=now)
    message = stream.until("changed")
    assert message["id"] != token and message["data"] == message["id"]
    stream.close()


def test_a_reconnecting_monitoring_page_hears_only_of_a_newer_change(asgi_server, manager):
    from monitoring.stats import change_token

    stream = SseReader(asgi_server, reverse("monitoring:stream"), session_cookie(manager), last_event_id=change_token(),
                       timeout=2)
    with pytest.raises(TimeoutError):
        stream.next()  # nothing changed since its id: nothing to say (a comment at most)
    stream.close()


def test_non_managers_get_403_on_the_monitoring_stream(asgi_server, viewer):
    stream = SseReader(asgi_server, reverse("monitoring:stream"), session_cookie(viewer))
    assert stream.status == 403
    stream.close()


def test_under_wsgi_the_streams_answer_204_and_the_pages_poll(client_for, project, viewer, manager):
    client = client_for(viewer)
    assert client.get(feed_stream(project)).status_code == 204  # EventSource stops; the page's poll carries on
    html = client.get(reverse("events:feed", args=[project.slug])).content.decode()
    assert "sse-connect" not in html and 'data-poll="10"' in html
    client = client_for(manager)
    assert client.get(reverse("monitoring:stream")).status_code == 204
    html = client.get(reverse("monitoring:health")).content.decode()
    assert "sse-connect" not in html and 'data-poll="10"' in html


def test_under_asgi_each_live_page_opens_its_channel(asgi_server, project, viewer, manager):
    event = record(project, "Indexing docs", status="IN_PROGRESS")

    def page(path, user):
        request = urllib.request.Request(asgi_server.url + path, headers={"Cookie": session_cookie(user)})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    feed = page(reverse("events:feed", args=[project.slug]), viewer)
    assert f'sse-connect="{feed_stream(project)}?top=' in feed and 'sse-swap="new-rows"' in feed
    assert f'sse-swap="event-{event.pk}"' in feed  # the in-progress row swaps itself when it finishes
    detail = page(reverse("events:event_detail", args=[project.slug, event.pk]), viewer)
    assert f"?only={event.pk}" in detail and f'hx-trigger="sse:event-{event.pk}"' in detail
    for name in ("overview", "health", "notifications"):
        html = page(reverse(f"monitoring:{name}"), manager)
        assert 'sse-connect="/monitoring/live/?since=' in html and "sse:changed" in html, name
