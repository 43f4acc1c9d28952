"""Activity feed, event detail, exports, insights and audit log pages."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models.activity import ActivityEvent, EventStatus, EventType, ProjectAction
from events.pagination import cursor_for
from events.views.activity import PAGE_SIZE
from projects.models import Project


def make_event(project, *, minutes_ago=0, **fields):
    fields.setdefault("event_type", EventType.INDEXING_COMPLETED)
    fields.setdefault("entity_type", "indexing")
    fields.setdefault("title", "Indexed main branch")
    fields.setdefault("status", EventStatus.COMPLETED)
    return ActivityEvent.objects.create(
        project=project, created_at=timezone.now() - timedelta(minutes=minutes_ago), **fields
    )


def feed_url(project, **extra):
    return reverse("events:feed", args=[project.slug])


# ----- access -----

PAGES = ["events:feed", "events:insights", "events:audit", "events:feed_export_csv", "events:feed_export_jsonl",
         "events:audit_export_csv", "events:audit_export_jsonl"]


@pytest.mark.parametrize("name", PAGES)
def test_outsider_gets_404(client_for, project, outsider, name):
    assert client_for(outsider).get(reverse(name, args=[project.slug])).status_code == 404


def test_outsider_gets_404_on_event_detail(client_for, project, outsider):
    event = make_event(project)
    assert client_for(outsider).get(reverse("events:event_detail", args=[project.slug, event.pk])).status_code == 404


def test_event_of_another_project_is_404_even_for_a_member(client_for, project, viewer):
    other = Project.objects.create(name="Other", slug="other")
    event = make_event(other)
    assert client_for(viewer).get(reverse("events:event_detail", args=[project.slug, event.pk])).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_viewer_can_read(client_for, project, viewer, name):
    make_event(project)
    assert client_for(viewer).get(reverse(name, args=[project.slug])).status_code == 200


# ----- feed -----


def test_feed_lists_events_newest_first_with_working_filters(client_for, project, viewer):
    make_event(project, title="Older indexing", minutes_ago=10)
    make_event(project, title="Auto-fix crashed", event_type=EventType.AUTO_FIX_FAILED, status=EventStatus.FAILED)
    client = client_for(viewer)
    body = client.get(feed_url(project)).content.decode()
    assert body.index("Auto-fix crashed") < body.index("Older indexing")
    filtered = client.get(feed_url(project), {"status": "FAILED"}).content.decode()
    assert "Auto-fix crashed" in filtered and "Older indexing" not in filtered


def test_feed_empty_state_explains_what_to_do(client_for, project, viewer):
    body = client_for(viewer).get(feed_url(project)).content.decode()
    assert "No activity yet" in body
    filtered = client_for(viewer).get(feed_url(project), {"category": "chat"}).content.decode()
    assert "No events match these filters" in filtered


def test_bad_filter_is_a_400_saying_what_was_wrong(client_for, project, viewer):
    response = client_for(viewer).get(feed_url(project), {"type": "EXPLODED"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_bad_cursor_is_a_400(client_for, project, viewer):
    response = client_for(viewer).get(feed_url(project), {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "Link to older entries: This link is out of date or damaged" in response.content.decode()
    response = client_for(viewer).get(feed_url(project), {"cursor": "x" * 1000}, headers={"HX-Request": "true"})
    assert response.status_code == 400


def test_errors_name_fields_as_the_reader_sees_them(client_for, project, viewer):
    body = client_for(viewer).get(feed_url(project), {"q": "x" * 300}).content.decode()
    assert "<li>Search: Ensure this value has at most 200 characters" in body
    assert "<li>q:" not in body
    body = client_for(viewer).get(reverse("events:audit", args=[project.slug]), {"until": "soon"}).content.decode()
    assert "<li>To: Enter a valid date." in body


def test_a_bad_new_events_check_is_not_called_a_cursor(client_for, project, viewer):
    response = client_for(viewer).get(feed_url(project), {"newer_than": "garbage"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Check for new events: It could not be read" in body
    assert "cursor" not in body.lower()


def test_htmx_filter_request_gets_the_results_fragment(client_for, project, viewer):
    make_event(project)
    response = client_for(viewer).get(
        feed_url(project), {"status": "COMPLETED"}, headers={"HX-Request": "true", "HX-Target": "feed-results"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="feed-results"' in body and "<html" not in body


def test_pages_continue_by_cursor_without_gaps_or_duplicates(client_for, project, viewer):
    for i in range(PAGE_SIZE + 5):
        make_event(project, title=f"event-{i:03d}", minutes_ago=i)
    client = client_for(viewer)
    first = client.get(feed_url(project)).context
    assert len(first["items"]) == PAGE_SIZE and first["page"].next_cursor
    make_event(project, title="arrived meanwhile")
    response = client.get(feed_url(project), {"cursor": first["page"].next_cursor}, headers={"HX-Request": "true"})
    rest = response.content.decode()
    assert "<html" not in rest  # just the rows
    assert [f"event-{i:03d}" in rest for i in range(PAGE_SIZE, PAGE_SIZE + 5)] == [True] * 5
    assert "arrived meanwhile" not in rest and "event-049" not in rest
    assert "That is everything" in rest


def test_without_javascript_older_events_is_a_plain_link(client_for, project, viewer):
    for i in range(PAGE_SIZE + 1):
        make_event(project, minutes_ago=i)
    body = client_for(viewer).get(feed_url(project)).content.decode()
    assert "Older events</a>" in body and "cursor=" in body


def test_new_events_banner_counts_events_after_the_top_row(client_for, project, viewer):
    top = make_event(project, minutes_ago=5)
    client = client_for(viewer)
    poll = {"newer_than": cursor_for(top)}
    assert "new event" not in client.get(feed_url(project), poll, headers={"HX-Request": "true"}).content.decode()
    make_event(project, title="fresh")
    make_event(project, title="fresher")
    banner = client.get(feed_url(project), poll, headers={"HX-Request": "true"}).content.decode()
    assert "2 new events" in banner and "<html" not in banner
    # The banner respects the filters: a new event outside them is not announced.
    filtered = client.get(feed_url(project), {**poll, "status": "FAILED"}, headers={"HX-Request": "true"})
    assert "new event" not in filtered.content.decode()


def test_in_progress_rows_poll_and_refresh_their_status(client_for, project, viewer):
    running = make_event(project, status=EventStatus.IN_PROGRESS, title="Indexing 40%")
    client = client_for(viewer)
    body = client.get(feed_url(project)).content.decode()
    assert f'id="event-{running.pk}"' in body and "data-poll" in body
    ActivityEvent.objects.filter(pk=running.pk).update(status=EventStatus.COMPLETED, duration=4200)
    row = client.get(
        reverse("events:event_detail", args=[project.slug, running.pk]),
        headers={"HX-Request": "true", "HX-Target": f"event-{running.pk}"},
    ).content.decode()
    assert row.lstrip().startswith("<tr") and "Completed" in row and "4.2 s" in row
    assert "data-poll" not in row  # finished rows stop polling


def test_event_detail_shows_metadata_as_formatted_json(client_for, project, viewer):
    event = make_event(project, metadata={"branch": "main", "files": 12, "nested": {"ok": True}}, duration=1500)
    body = client_for(viewer).get(reverse("events:event_detail", args=[project.slug, event.pk])).content.decode()
    assert "&quot;branch&quot;: &quot;main&quot;" in body
    assert "1.5 s" in body


def test_feed_times_have_an_absolute_time_tooltip(client_for, project, viewer):
    event = make_event(project, minutes_ago=90)
    body = client_for(viewer).get(feed_url(project)).content.decode()
    stamp = timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f'title="{stamp}">an hour ago</time>' in body


def test_back_to_the_feed_keeps_the_filters(client_for, project, viewer):
    event = make_event(project, status=EventStatus.FAILED)
    client = client_for(viewer)
    feed = client.get(feed_url(project), {"status": "FAILED", "q": "main"}).content.decode()
    detail_link = reverse("events:event_detail", args=[project.slug, event.pk]) + "?status=FAILED&amp;q=main"
    assert f'href="{detail_link}"' in feed
    detail = client.get(reverse("events:event_detail", args=[project.slug, event.pk]), {"status": "FAILED", "q": "main"})
    back = reverse("events:feed", args=[project.slug]) + "?status=FAILED&amp;q=main"
    assert f'<a href="{back}">← Back to the activity feed</a>' in detail.content.decode()


def test_a_polled_row_keeps_the_filters_in_its_link(client_for, project, viewer):
    event = make_event(project, status=EventStatus.IN_PROGRESS)
    current = "http://testserver" + reverse("events:feed", args=[project.slug]) + "?status=IN_PROGRESS&cursor=abc"
    row = client_for(viewer).get(
        reverse("events:event_detail", args=[project.slug, event.pk]),
        headers={"HX-Request": "true", "HX-Target": f"event-{event.pk}", "HX-Current-URL": current},
    ).content.decode()
    assert f'{event.pk}/?status=IN_PROGRESS"' in row


# ----- exports -----


def read_stream(response):
    return b"".join(response.streaming_content).decode()


def test_csv_export_streams_the_filtered_view(client_for, project, viewer, owner):
    make_event(project, title="kept, with comma", status=EventStatus.FAILED, metadata={"a": 1}, user=owner)
    make_event(project, title="dropped")
    response = client_for(viewer).get(reverse("events:feed_export_csv", args=[project.slug]), {"status": "FAILED"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(read_stream(response))))
    assert len(rows) == 1
    assert rows[0]["title"] == "kept, with comma" and rows[0]["user"] == owner.username
    assert json.loads(rows[0]["metadata"]) == {"a": 1}


def test_jsonl_export_has_one_object_per_line(client_for, project, viewer):
    for i in range(3):
        make_event(project, title=f"e{i}", minutes_ago=i)
    response = client_for(viewer).get(reverse("events:feed_export_jsonl", args=[project.slug]))
    lines = read_stream(response).splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["e0", "e1", "e2"]
    assert json.loads(lines[0])["category"] == "indexing"


TRICKY = 'He said "hi", then\nleft \\ back; tab\there; ünïcødé ✓'


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_exports_round_trip_awkward_text(client_for, project, viewer, fmt):
    event = make_event(project, title=TRICKY, description=TRICKY, metadata={"quote": TRICKY, "n": [1, 2]}, duration=7)
    body = read_stream(client_for(viewer).get(reverse(f"events:feed_export_{fmt}", args=[project.slug])))
    if fmt == "csv":
        import csv
        import io

        (row,) = list(csv.DictReader(io.StringIO(body)))
        metadata = json.loads(row["metadata"])
    else:
        (line,) = body.splitlines()
        row = json.loads(line)
        metadata = row["metadata"]
    assert row["title"] == TRICKY and row["description"] == TRICKY
    assert metadata == {"quote": TRICKY, "n": [1, 2]}
    assert str(row["id"]) == str(event.pk) and str(row["duration_ms"]) == "7"
    assert row["category"] == "indexing"
    assert row["created_at"].startswith(str(event.created_at.year))


def test_export_with_bad_filter_is_a_400(client_for, project, viewer):
    response = client_for(viewer).get(reverse("events:feed_export_csv", args=[project.slug]), {"since": "soon"})
    assert response.status_code == 400
    assert b"From: Enter a valid date." in response.content


# ----- insights -----


def test_insights_page_shows_counts_chart_durations_and_summaries(client_for, project, viewer):
    make_event(project, event_type=EventType.APR_COMPLETED, duration=2000)
    make_event(project, event_type=EventType.APR_FAILED, status=EventStatus.FAILED, duration=500)
    ProjectAction.objects.create(project=project, action_type="endpoints_added", action_details="Added 5 endpoints: …")
    body = client_for(viewer).get(reverse("events:insights", args=[project.slug])).content.decode()
    assert "1 endpoint addition today, none by this time yesterday." in body
    assert "<svg" in body and "bar-failed" in body
    assert "APR completed" in body and "50.0%" in body


def test_insights_window_is_validated(client_for, project, viewer):
    assert client_for(viewer).get(reverse("events:insights", args=[project.slug]), {"days": "7"}).status_code == 200
    assert client_for(viewer).get(reverse("events:insights", args=[project.slug]), {"days": "100000"}).status_code == 400


def test_insights_empty_state(client_for, project, viewer):
    assert "Nothing to chart yet" in client_for(viewer).get(reverse("events:insights", args=[project.slug])).content.decode()


# ----- audit log -----


def test_audit_log_filters_searches_and_exports(client_for, project, viewer):
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Deployed to fly.io", environment="production")
    ProjectAction.objects.create(project=project, action_type="github_push", action_details="Pushed 5 files", status="failed")
    client = client_for(viewer)
    body = client.get(reverse("events:audit", args=[project.slug]), {"status": "failed"}).content.decode()
    assert "Pushed 5 files" in body and "Deployed to fly.io" not in body
    body = client.get(reverse("events:audit", args=[project.slug]), {"q": "fly.io"}).content.decode()
    assert "Deployed to fly.io" in body and "Pushed 5 files" not in body
    exported = read_stream(client.get(reverse("events:audit_export_jsonl", args=[project.slug]), {"environment": "production"}))
    assert [json.loads(line)["action_type"] for line in exported.splitlines()] == ["deployment"]


def test_audit_log_bad_filter_is_400(client_for, project, viewer):
    assert client_for(viewer).get(reverse("events:audit", args=[project.slug]), {"status": "sideways"}).status_code == 400


# ----- home -----


def test_home_shows_recent_events_today_counts_and_failures(client_for, project, viewer, outsider):
    make_event(project, title="Indexed today")
    make_event(project, title="Deploy broke", event_type=EventType.AUTO_FIX_FAILED, status=EventStatus.FAILED)
    body = client_for(viewer).get(reverse("home")).content.decode()
    assert "Indexed today" in body and "Deploy broke" in body
    assert "Needs attention" in body
    other = client_for(outsider).get(reverse("home")).content.decode()
    assert "Indexed today" not in other


def test_filter_form_keeps_the_chosen_values(client_for, project, viewer, owner):
    body = client_for(viewer).get(
        feed_url(project), {"type": ["APR_FAILED", "TEST_GENERATION"], "user": owner.username, "q": "deploy"}
    ).content.decode()
    assert '<option value="APR_FAILED" selected>' in body
    assert '<option value="TEST_GENERATION" selected>' in body
    assert '<option value="INDEXING_STARTED" selected>' not in body
    assert f'<option value="{owner.username}" selected>' in body
    assert 'value="deploy"' in body


@pytest.mark.parametrize(
    "params",
    [{"newer_than": "garbage"}, {"q": "nul\x00byte"}, {"entity_type": "x" * 500}, {"since": "2026-02-30"},
     {"cursor": "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxhYmM"}],  # a well-formed cursor whose id is not a number
)
def test_hostile_feed_parameters_get_400_not_500(client_for, project, viewer, params):
    for headers in ({}, {"HX-Request": "true"}):
        assert client_for(viewer).get(feed_url(project), params, headers=headers).status_code == 400


def test_feed_query_count_does_not_grow_with_rows_and_names_authors(client_for, project, owner, editor, viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(viewer)
    make_event(project, user=owner, title="By the owner")
    client.get(feed_url(project))  # the first visit also creates the viewer's feed token (once)
    with CaptureQueriesContext(connection) as few:
        client.get(feed_url(project))
    for i, author in enumerate([owner, editor, viewer, None] * 10):
        make_event(project, user=author, minutes_ago=i + 1, title=f"Event {i}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(feed_url(project))
    assert len(many) == len(few)
    body = response.content.decode()
    assert all(name in body for name in ("olivia", "eddie", "vera", "system"))


def test_feed_rows_escape_what_clients_sent(client_for, project, viewer):
    make_event(project, title="<script>alert(1)</script>", entity_id='"><img src=x>', status=EventStatus.IN_PROGRESS)
    body = client_for(viewer).get(feed_url(project)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&quot;&gt;&lt;img src=x&gt;" in body
    assert 'hx-trigger="poll"' in body  # the in-progress row polls its own detail URL


def test_pages_that_answer_htmx_with_fragments_vary_on_hx_request(client_for, project, viewer):
    # Otherwise the browser's Back may show the cached fragment of a URL htmx pushed instead of its page.
    response = client_for(viewer).get(feed_url(project), {"status": "FAILED"}, headers={"HX-Request": "true", "HX-Target": "feed-results"})
    assert "HX-Request" in response["Vary"]
