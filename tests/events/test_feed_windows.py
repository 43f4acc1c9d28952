"""The feed reads a partitioned table window by window (events/partitions.py feed_windows): the first page plans
this month's partition alone when it holds a page, and a walk through every page gives each row exactly once, in
(created_at, id) order — rows of past months, of months that have no partition of their own (the DEFAULT one),
and rows dated after now, near and far. The walk runs on SQLite too (one query a page, no windows)."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events.filters import ActivityEventFilter
from events.models import ActivityEvent
from events.pagination import paginate_keyset
from events.partitions import (
    FEED_SKEW,
    Window,
    add_months,
    convert_table,
    create_month_partition,
    default_partition_name,
    feed_windows,
    month_start,
    monthly_partitions,
    partition_name,
)
from tests.api_fixtures import *  # noqa: F403

TABLE = "events_activityevent"
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are a PostgreSQL concept")


def event_at(project, moment, title="t", **extra):
    return ActivityEvent.objects.create(project=project, event_type=extra.pop("event_type", "INDEXING_STARTED"),
                                        entity_type="repo", title=title, created_at=moment, **extra)


def in_this_month(now, fraction):
    """A moment of this month before now (fraction of the way from its start), whatever the day of the month."""
    start = month_start(now)
    return start + (now - start) * fraction


def give_months_partitions(now, months_back):
    """Month partitions for these months before this one (migrate made this month's and the next)."""
    if connection.vendor == "postgresql":
        for back in months_back:
            create_month_partition(TABLE, add_months(month_start(now), -back))


def partitions_planned(queries) -> set[str]:
    """The partitions of the events table that the plans of these captured queries name."""
    planned: set[str] = set()
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if TABLE not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            raw = cursor.fetchone()[0]
            plan = json.loads(raw) if isinstance(raw, str) else raw
            planned |= {name for name in re.findall(r'"Relation Name": "([^"]+)"', json.dumps(plan))
                        if name.startswith(TABLE)}
    return planned


@pytest.fixture
def timeline(project):
    """Rows across the calendar, created oldest first in a shuffled order of ids within ties."""
    now = timezone.now()
    give_months_partitions(now, (1, 2, 3, 5, 9))  # months 4, 6, 7, 8 and older stay in the DEFAULT partition
    this_month = month_start(now)
    moments = [in_this_month(now, f) for f in (0.2, 0.5, 0.9)] + [this_month]  # the month's first instant too
    moments += [add_months(this_month, -back) + timedelta(days=d) for back in (1, 2, 3, 4, 5, 7, 9, 14) for d in (0, 3)]
    moments += [this_month - timedelta(microseconds=1)]  # the last instant of last month
    moments += [now - timedelta(days=365 * 30)]  # decades before any month partition
    future = [now + timedelta(minutes=2), now + timedelta(hours=1), now + timedelta(days=40), now + timedelta(days=365 * 20)]
    events = [event_at(project, moment, title=f"row {i}") for i, moment in enumerate(moments + future)]
    tie = in_this_month(now, 0.5)
    events += [event_at(project, tie, title=f"tie {i}") for i in range(3)]  # same created_at: ordered by id
    ahead = sorted((e for e in events if e.created_at > now), key=lambda e: e.created_at, reverse=True)
    return now, events, ahead


def expected_order(queryset):
    return list(queryset.order_by("-created_at", "-id").values_list("pk", flat=True))


def walk(queryset, limit):
    seen, cursor = [], None
    while True:
        page = paginate_keyset(queryset, cursor, limit)
        seen += [row.pk if hasattr(row, "pk") else row.id for row in page.items]
        if not page.has_next:
            return seen
        cursor = page.next_cursor


def test_every_row_once_in_order_on_every_page_size(project, timeline):
    _, events, future = timeline
    everything = ActivityEvent.objects.for_project(project)
    expected = expected_order(everything)
    assert sorted(expected) == sorted(e.pk for e in events)
    for limit in (1, 2, 3, 7, 50, 500):
        assert walk(everything, limit) == expected, limit
        assert walk(everything.for_feed(), limit) == expected, limit
    # Rows dated after now + the skew are not left out: they head the first page, newest first, as in the order.
    first = paginate_keyset(everything, None, 5).items
    assert [e.pk for e in first[:4]] == [e.pk for e in future]


def test_filters_apply_to_every_window(project, timeline, owner):
    _, events, _ = timeline
    failed = events[::4]
    ActivityEvent.objects.filter(pk__in=[e.pk for e in failed]).update(status="FAILED", user=owner)
    base = ActivityEvent.objects.for_project(project).for_feed()
    for query in ({"status": ["FAILED"]}, {"user": owner.username}, {"q": "tie"}):
        filterset = ActivityEventFilter(query, queryset=base, project=project)
        assert filterset.is_valid(), filterset.errors
        expected = expected_order(filterset.qs)
        assert expected and len(expected) < len(events)
        for limit in (1, 2, 50):
            assert walk(filterset.qs, limit) == expected, (query, limit)
    assert set(expected_order(ActivityEventFilter({"status": ["FAILED"]}, queryset=base, project=project).qs)) == {
        e.pk for e in failed
    }


def test_the_json_feed_walks_the_same_rows(api_as, read_token, project, timeline):
    _, events, _ = timeline
    client, seen, cursor = api_as(read_token), [], None
    while True:
        body = client.get("/feed", limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected_order(ActivityEvent.objects.for_project(project))
    typed = client.get("/feed", type="INDEXING_STARTED", limit=100).json()
    assert len(typed["events"]) == len(events) and typed["next_cursor"] is None
    assert client.get("/feed", type="CHAT_MESSAGE_SENT").json()["events"] == []


def test_the_html_feed_shows_the_newest_rows_future_ones_first(client_for, project, viewer, timeline):
    _, events, future = timeline
    html = client_for(viewer).get(reverse("events:feed", args=[project.slug])).content.decode()
    shown = [int(pk) for pk in re.findall(r'<tr id="event-(\d+)" class="event-row', html)]
    assert shown == expected_order(ActivityEvent.objects.for_project(project))[: len(shown)]
    assert shown[:4] == [e.pk for e in future]


def test_sqlite_and_plain_tables_read_in_one_query(db):
    if connection.vendor == "postgresql":
        with connection.schema_editor() as editor:
            convert_table(editor, TABLE, partitioned=False)
    assert feed_windows(ActivityEvent) is None
    assert feed_windows(ActivityEvent, timezone.now() - timedelta(days=40)) is None


@on_postgres
def test_windows_widen_from_this_month_down_to_the_default_partition(db):
    now = timezone.now()
    give_months_partitions(now, range(1, 13))
    this_month = month_start(now)
    oldest = add_months(this_month, -12)
    back = lambda months: add_months(this_month, -months)  # noqa: E731
    windows = feed_windows(ActivityEvent, now=now)
    assert windows is not None and list(windows) == [
        Window(this_month, now + FEED_SKEW),  # this month only: next month's partition and DEFAULT not planned
        Window(back(1), this_month),  # found nothing: 1, 2, 4 … months
        Window(back(3), back(1)),
        Window(back(7), back(3)),
        Window(None, back(7)),  # would reach the oldest month partition: the rest, DEFAULT's past with it
    ]
    # Told what it found, it widens as far as that density says the rest of the page lies (× 1.5, whole months).
    windows = feed_windows(ActivityEvent, now=now)
    assert windows is not None and next(windows) == Window(this_month, now + FEED_SKEW)
    covered = now - this_month
    found = 10
    wanted = found + round(found * 2 * timedelta(days=30.44) / covered / 1.5) - 1  # 2 months' worth, at most
    assert windows.send((found, wanted)) == Window(back(2), this_month)
    assert windows.send((wanted - 1, wanted)) == Window(back(3), back(2))  # one row short: a month more
    assert windows.send((found, 10_000_000)) == Window(None, back(3))  # far more wanted: the rest at once
    # A later page starts at its cursor's month (the cursor bounds it from above).
    cursor = back(2) + timedelta(days=3)
    later = feed_windows(ActivityEvent, cursor)
    assert later is not None and [next(later), next(later)] == [Window(back(2), None), Window(back(3), back(2))]
    # A cursor older than every month partition: one query (it can only read the DEFAULT partition).
    assert feed_windows(ActivityEvent, oldest - timedelta(days=1)) is None


@on_postgres
def test_the_first_page_plans_this_months_partition_alone_when_it_holds_a_page(
        project, viewer, client_for, api_as, read_token):
    now = timezone.now()
    give_months_partitions(now, (1, 2))
    for i in range(60):
        event_at(project, in_this_month(now, (i + 1) / 61), title=f"recent {i}", event_type="TEST_GENERATION")
    for back in (1, 2):
        event_at(project, add_months(month_start(now), -back))
    event_at(project, now - timedelta(days=365 * 30))  # in the DEFAULT partition
    this_month = {partition_name(TABLE, month_start(now))}
    assert partition_name(TABLE, add_months(month_start(now), 1)) in {n for n, _, _ in monthly_partitions(TABLE)}

    events = ActivityEvent.objects.for_project(project).for_feed()
    paginate_keyset(events, None, 50)  # the process reads the partition list and checks for future rows once
    with CaptureQueriesContext(connection) as page:
        items = paginate_keyset(events, None, 50).items
    assert len(items) == 50 and len(page.captured_queries) == 1
    assert partitions_planned(page.captured_queries) == this_month

    with CaptureQueriesContext(connection) as html:
        response = client_for(viewer).get(reverse("events:feed", args=[project.slug]))
    assert response.status_code == 200
    assert partitions_planned(html.captured_queries) == this_month

    client = api_as(read_token)
    for query in ({}, {"type": "TEST_GENERATION"}, {"status": "in_progress"}, {"q": "recent"}):
        with CaptureQueriesContext(connection) as api:
            assert client.get("/feed", **query).status_code == 200
        assert partitions_planned(api.captured_queries) == this_month, query


@on_postgres
def test_a_short_month_reads_on_into_the_months_before_and_no_further_than_needed(project):
    now = timezone.now()
    give_months_partitions(now, range(1, 13))
    for i in range(20):
        event_at(project, in_this_month(now, (i + 1) / 21))
    last_month = add_months(month_start(now), -1)
    for i in range(60):
        event_at(project, last_month + timedelta(hours=i))
    event_at(project, now - timedelta(days=365 * 30))
    events = ActivityEvent.objects.for_project(project).for_feed()
    paginate_keyset(events.filter(status="FAILED"), None, 50)  # another query: the partition list, the future check
    with CaptureQueriesContext(connection) as page:
        first = paginate_keyset(events, None, 50).items
    # This month's 20 rows say the other 31 lie within 31 × (days so far) / 20 × 1.5 ≤ 72 days: 1 to 3 months.
    assert len(first) == 50 and len(page.captured_queries) == 2
    planned = partitions_planned(page.captured_queries)
    months = {partition_name(TABLE, month_start(now)), partition_name(TABLE, last_month)}
    assert months <= planned
    assert planned <= {partition_name(TABLE, add_months(month_start(now), -back)) for back in range(4)}
    assert default_partition_name(TABLE) not in planned
    # The same query again: it starts where that page reached (last month), in one query over the two months.
    with CaptureQueriesContext(connection) as again:
        assert paginate_keyset(events, None, 50).items == first
    assert len(again.captured_queries) == 1 and partitions_planned(again.captured_queries) == months
    # Another filter has not been seen: it starts at this month.
    with CaptureQueriesContext(connection) as other:
        paginate_keyset(events.filter(event_type="INDEXING_STARTED"), None, 50)
    assert len(other.captured_queries) == 2


@on_postgres
def test_a_row_written_ahead_shows_once_the_check_is_renewed(project):
    """The first page trusts "no row is dated after now + the skew" for FUTURE_CHECK_SECONDS; a row written that
    far ahead afterwards shows once the check is renewed (here: forgotten, as after that time), never lost."""
    from events.partitions import forget_partitions

    now = timezone.now()
    event_at(project, in_this_month(now, 0.5))
    events = ActivityEvent.objects.for_project(project)
    assert len(paginate_keyset(events, None, 10).items) == 1
    ahead = event_at(project, now + timedelta(days=3))
    forget_partitions()
    assert [e.pk for e in paginate_keyset(events, None, 10).items][0] == ahead.pk
