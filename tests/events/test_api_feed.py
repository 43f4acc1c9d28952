"""GET /api/v1/feed (cursor pagination, the activity page's filters) and GET /api/v1/insights."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import ActivityEvent
from tests.api_fixtures import *  # noqa: F403


def make(project, n=1, **fields):
    now = timezone.now()
    defaults = {"event_type": "INDEXING_STARTED", "entity_type": "indexing", "status": "COMPLETED"}
    return ActivityEvent.objects.bulk_create(
        ActivityEvent(
            project=project,
            created_at=now - timedelta(seconds=n - i),
            **{"title": f"event {i}", **defaults, **fields},
        )
        for i in range(n)
    )


def test_limit_10_returns_the_ten_newest(api_as, read_token, project):
    make(project, 25)
    response = api_as(read_token).get("/feed", limit=10)
    assert response.status_code == 200
    body = response.json()
    assert [e["title"] for e in body["events"]] == [f"event {i}" for i in range(24, 14, -1)]
    assert body["next_cursor"]


def test_following_cursors_visits_every_event_once_even_while_new_ones_arrive(api_as, read_token, project):
    make(project, 35)
    client, seen, cursor = api_as(read_token), [], None
    while True:
        body = client.get("/feed", limit=10, **({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in body["events"]]
        make(project, 2, title="arrived later")  # newer than everything: must not shift the pages
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 35


def test_default_page_is_50(api_as, read_token, project):
    make(project, 60)
    assert len(api_as(read_token).get("/feed").json()["events"]) == 50


def test_feed_shows_only_the_keys_project(api_as, read_token, project, other_project):
    make(project, 2)
    make(other_project, 3, title="theirs")
    titles = [e["title"] for e in api_as(read_token).get("/feed").json()["events"]]
    assert len(titles) == 2 and "theirs" not in titles


def test_filters_match_the_activity_page(api_as, read_token, project, owner):
    make(project, 3, event_type="APR_FAILED", status="FAILED", entity_type="apr_session")
    make(project, 2, event_type="CHAT_MESSAGE_SENT", user=owner)
    make(project, 4)
    client = api_as(read_token)

    def count(**query):
        return len(client.get("/feed", **query).json()["events"])

    assert count(type="APR_FAILED") == 3
    assert count(type=["APR_FAILED", "CHAT_MESSAGE_SENT"]) == 5
    assert count(category="chat") == 2
    assert count(status="FAILED") == 3
    assert count(user=owner.username) == 2
    assert count(entity_type="apr_session") == 3
    assert count(since=timezone.now().date().isoformat()) == 9
    assert count(until=(timezone.now() - timedelta(days=2)).date().isoformat()) == 0


def test_text_search(api_as, read_token, project):
    make(project, 1, title="Deploy to production", description="fly.io")
    make(project, 3)
    assert [e["title"] for e in api_as(read_token).get("/feed", q="deploy").json()["events"]] == ["Deploy to production"]


def test_events_carry_user_and_category(api_as, read_token, project, owner):
    make(project, 1, event_type="AUTO_FIX_STARTED", user=owner, metadata={"k": 1})
    event = api_as(read_token).get("/feed").json()["events"][0]
    assert (event["user"], event["category"], event["metadata"]) == (owner.username, "auto_fix", {"k": 1})


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "MjAyNS0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"}, "cursor"),
        ({"type": "NOPE"}, "type[0]"),
        ({"status": "DONE"}, "status[0]"),
        ({"category": "misc"}, "category"),
        ({"user": "nobody"}, "user"),
        ({"since": "yesterday"}, "since"),
        ({"since": "9999-12-31"}, "since"),
        ({"since": "2025-02-01", "until": "2025-01-01"}, "until"),
        ({"q": "x" * 201}, "q"),
        ({"q": "nul\x00"}, "q"),
    ],
)
def test_invalid_feed_parameters_are_422_naming_the_parameter(api_as, read_token, query, field):
    response = api_as(read_token).get("/feed", **query)
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["errors"]]


def test_feed_without_key_is_401(api_as, db):
    assert api_as(None).get("/feed").status_code == 401


def test_insights_counts(api_as, read_token, project):
    make(project, 3, status="FAILED", event_type="APR_FAILED", duration=100)
    make(project, 1, status="COMPLETED", duration=300)
    response = api_as(read_token).get("/insights", days=7)
    assert response.status_code == 200
    body = response.json()
    assert body["days"] == 7 and body["total"] == 4
    assert body["by_status"] == {"IN_PROGRESS": 0, "COMPLETED": 1, "FAILED": 3}
    assert body["failure_rate"] == 0.75
    assert {t["event_type"]: t["count"] for t in body["by_type"]} == {"APR_FAILED": 3, "INDEXING_STARTED": 1}
    assert len(body["by_day"]) == 7 and sum(d["total"] for d in body["by_day"]) == 4
    assert body["summaries"]


def test_insights_accept_the_feed_filters(api_as, read_token, project):
    make(project, 3, status="FAILED", event_type="APR_FAILED")
    make(project, 2)
    assert api_as(read_token).get("/insights", type="APR_FAILED").json()["total"] == 3


@pytest.mark.parametrize("days", ["8", "0", "week"])
def test_insights_reject_other_windows(api_as, read_token, days):
    assert api_as(read_token).get("/insights", days=days).status_code == 422


def test_feed_metadata_round_trips_exactly(api_as, write_token, read_token):
    metadata = {"s": "déjà \U0001f680 \"quoted\" \\ back", "n": [1, 2.5, None, True], "deep": {"a": {"b": []}}, "e": {}}
    api_as(write_token).post(
        "/events", {"event_type": "APR_REVIEW", "title": "t", "entity_type": "apr_session", "metadata": metadata}
    )
    api_as(write_token).post("/events", {"event_type": "APR_REVIEW", "title": "no metadata", "entity_type": "x"})
    events = api_as(read_token).get("/feed").json()["events"]
    assert [e["metadata"] for e in events] == [None, metadata]
