"""The reusable activity pieces: QuerySet methods, the FilterSets, keyset pagination and insights."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events.filters import ActivityEventFilter, ProjectActionFilter
from events.insights import (
    action_summaries,
    project_insights,
    today_counts,
)
from events.models.activity import (
    ActivityEvent,
    AppendOnlyError,
    EventCategory,
    EventStatus,
    EventType,
    ProjectAction,
)
from events.pagination import (
    InvalidCursor,
    count_newer,
    cursor_for,
    iterate_keyset,
    paginate_keyset,
)
from projects.models import Project


def make_event(project, *, minutes_ago=0, **fields):
    fields.setdefault("event_type", EventType.INDEXING_STARTED)
    fields.setdefault("entity_type", "indexing")
    fields.setdefault("title", "Indexing main branch")
    fields.setdefault("status", EventStatus.COMPLETED)
    return ActivityEvent.objects.create(
        project=project, created_at=timezone.now() - timedelta(minutes=minutes_ago), **fields
    )


# ----- QuerySet methods -----


def test_queryset_methods_compose(project):
    other = Project.objects.create(name="Other", slug="other")
    failed_recent = make_event(project, status=EventStatus.FAILED, minutes_ago=5)
    make_event(project, status=EventStatus.FAILED, minutes_ago=60 * 24 * 3)
    make_event(project, status=EventStatus.IN_PROGRESS)
    make_event(other, status=EventStatus.FAILED)
    since = timezone.now() - timedelta(days=1)
    assert list(ActivityEvent.objects.for_project(project).failed().since(since)) == [failed_recent]
    assert ActivityEvent.objects.for_project(project).in_progress().count() == 1
    assert ActivityEvent.objects.for_project(project).failed().count() == 2


def test_in_category_covers_every_type_of_the_category(project):
    for event_type in EventType.values:
        make_event(project, event_type=event_type)
    apr = ActivityEvent.objects.for_project(project).in_category(EventCategory.APR)
    assert {e.event_type for e in apr} == {t for t in EventType.values if t.startswith("APR_")}


def test_recent_across_merges_projects_newest_first(project, owner):
    other = Project.objects.create(name="Other", slug="other")
    a = [make_event(project, minutes_ago=m) for m in (1, 3, 5)]
    b = [make_event(other, minutes_ago=m) for m in (2, 4)]
    recent = ActivityEvent.objects.recent_across([project, other], limit=4)
    assert recent == [a[0], b[0], a[1], b[1]]


def test_search_finds_words_in_title_and_description(project):
    hit_title = make_event(project, title="Deployment timeout on worker")
    hit_description = make_event(project, title="Indexing", description="The indexer hit a timeout")
    make_event(project, title="All good", description="Nothing to see")
    found = set(ActivityEvent.objects.for_project(project).search("timeout"))
    assert found == {hit_title, hit_description}
    assert ActivityEvent.objects.for_project(project).search("").count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_search_uses_stemming_on_postgresql(project):
    hit = make_event(project, title="Indexing repositories")
    assert list(ActivityEvent.objects.for_project(project).search("repository")) == [hit]


# ----- append-only audit trail -----


def test_project_actions_are_append_only(project):
    action = ProjectAction.objects.create(project=project, action_type="deployment", action_details="Deployed")
    with pytest.raises(AppendOnlyError):
        action.action_details = "changed"
        action.save()
    with pytest.raises(AppendOnlyError):
        action.delete()
    with pytest.raises(AppendOnlyError):
        ProjectAction.objects.filter(pk=action.pk).update(status="failed")
    with pytest.raises(AppendOnlyError):
        ProjectAction.objects.filter(pk=action.pk).delete()
    assert ProjectAction.objects.get(pk=action.pk).action_details == "Deployed"


def test_deleting_a_project_still_removes_its_trail(project):
    ProjectAction.objects.create(project=project, action_type="deployment")
    make_event(project)
    project.delete()
    assert not ProjectAction.objects.exists()
    assert not ActivityEvent.objects.exists()


# ----- filters -----


@pytest.fixture
def varied(project, owner, editor):
    """One event per distinguishing trait, so each filter has exactly one expected answer."""
    return {
        "apr_failed": make_event(
            project, event_type=EventType.APR_FAILED, status=EventStatus.FAILED, user=owner,
            entity_type="apr_session", title="APR session failed", minutes_ago=10,
        ),
        "chat": make_event(
            project, event_type=EventType.CHAT_MESSAGE_SENT, user=editor, entity_type="chat_message",
            title="Question about webhooks", description="How do I retry a webhook delivery?", minutes_ago=20,
        ),
        "indexing_running": make_event(
            project, event_type=EventType.INDEXING_PROGRESS, status=EventStatus.IN_PROGRESS,
            title="Indexing 40%", minutes_ago=60 * 24 * 5,
        ),
        "test_gen": make_event(
            project, event_type=EventType.TEST_GENERATION, title="Generated tests", minutes_ago=60 * 24 * 40,
        ),
    }


def filtered(project, **params):
    f = ActivityEventFilter(params, queryset=ActivityEvent.objects.for_project(project), project=project)
    assert f.is_valid(), f.errors
    return set(f.qs)


def test_filter_by_one_and_several_types(project, varied):
    assert filtered(project, type=["TEST_GENERATION"]) == {varied["test_gen"]}
    assert filtered(project, type=["TEST_GENERATION", "APR_FAILED"]) == {varied["test_gen"], varied["apr_failed"]}


def test_filter_by_category(project, varied):
    assert filtered(project, category="chat") == {varied["chat"]}
    assert filtered(project, category="codegen") == {varied["test_gen"]}


def test_filter_by_status(project, varied):
    assert filtered(project, status=["FAILED"]) == {varied["apr_failed"]}
    assert filtered(project, status=["FAILED", "IN_PROGRESS"]) == {varied["apr_failed"], varied["indexing_running"]}


def test_filter_by_user_username(project, varied, editor):
    assert filtered(project, user=editor.username) == {varied["chat"]}


def test_filter_by_entity_type(project, varied):
    assert filtered(project, entity_type="apr_session") == {varied["apr_failed"]}


def test_filter_by_date_range_includes_whole_end_day(project, varied):
    today = timezone.localdate()
    assert filtered(project, since=str(today - timedelta(days=7))) == {
        varied["apr_failed"], varied["chat"], varied["indexing_running"]
    }
    ten_days = today - timedelta(days=10)
    assert filtered(project, until=str(ten_days)) == {varied["test_gen"]}
    day = timezone.localtime(varied["indexing_running"].created_at).date()
    assert filtered(project, since=str(day), until=str(day)) == {varied["indexing_running"]}


def test_filter_by_text(project, varied):
    assert filtered(project, q="webhook") == {varied["chat"]}


def test_filters_combine(project, varied, owner):
    assert filtered(project, category="apr", status=["FAILED"], user=owner.username) == {varied["apr_failed"]}
    assert filtered(project, category="apr", status=["COMPLETED"]) == set()


@pytest.mark.parametrize(
    "params",
    [{"type": ["NOPE"]}, {"category": "weather"}, {"status": ["DONE"]}, {"user": "nobody"},
     {"since": "yesterday"}, {"since": "2026-05-02", "until": "2026-05-01"}, {"q": "x" * 500}],
)
def test_bad_filter_values_are_reported_not_raised(project, params):
    f = ActivityEventFilter(params, queryset=ActivityEvent.objects.for_project(project), project=project)
    assert not f.is_valid()
    assert f.errors


def test_user_filter_only_offers_project_members(project, outsider):
    f = ActivityEventFilter({"user": outsider.username}, queryset=ActivityEvent.objects.all(), project=project)
    assert not f.is_valid()


def test_audit_filter_by_type_status_environment_and_text(project, owner):
    deploy = ProjectAction.objects.create(
        project=project, action_type="deployment", action_details="Deployed to fly.io", environment="production",
        user=owner,
    )
    failed = ProjectAction.objects.create(
        project=project, action_type="github_push", action_details="Push rejected", status="failed"
    )
    custom = ProjectAction.objects.create(project=project, action_type="member_added", action_details="Added vera")

    def audit(**params):
        f = ProjectActionFilter(params, queryset=ProjectAction.objects.for_project(project), project=project)
        assert f.is_valid(), f.errors
        return set(f.qs)

    assert audit(action_type=["deployment"]) == {deploy}
    assert audit(action_type=["member_added"]) == {custom}  # types beyond the eight built-in ones are offered too
    assert audit(status=["failed"]) == {failed}
    assert audit(environment="production") == {deploy}
    assert audit(q="fly.io") == {deploy}
    assert audit(user=owner.username) == {deploy}


# ----- keyset pagination -----


def test_keyset_pages_cover_everything_once(project):
    now = timezone.now()
    # Several rows share a timestamp: the id breaks the tie.
    events = [
        ActivityEvent.objects.create(
            project=project, event_type="CODE_SCAFFOLDING", entity_type="x", title=f"e{i}", created_at=now - timedelta(seconds=i // 3)
        )
        for i in range(25)
    ]
    seen, cursor = [], None
    while True:
        page = paginate_keyset(ActivityEvent.objects.for_project(project), cursor, limit=4)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 25
    assert seen == sorted(events, key=lambda e: (e.created_at, e.pk), reverse=True)


def test_events_arriving_between_pages_cause_no_gap_or_duplicate(project):
    for i in range(10):
        make_event(project, minutes_ago=100 - i, title=f"old {i}")
    first = paginate_keyset(ActivityEvent.objects.for_project(project), None, limit=4)
    for i in range(5):  # a burst of new events lands while the reader scrolls
        make_event(project, title=f"new {i}")
    second = paginate_keyset(ActivityEvent.objects.for_project(project), first.next_cursor, limit=4)
    third = paginate_keyset(ActivityEvent.objects.for_project(project), second.next_cursor, limit=4)
    shown = first.items + second.items + third.items
    assert [e.title for e in shown] == [f"old {i}" for i in range(9, -1, -1)]
    assert third.next_cursor is None
    assert count_newer(ActivityEvent.objects.for_project(project), cursor_for(first.items[0])) == 5


def test_count_newer_is_capped(project):
    top = make_event(project, minutes_ago=10)
    for _ in range(7):
        make_event(project)
    assert count_newer(ActivityEvent.objects.for_project(project), cursor_for(top), cap=5) == 5


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "MjAyNi0wMS0wMQ", "bm90LWEtZGF0ZXwx", "MjAyNi0wMS0wMVQwMDowMDowMHwx"])
def test_invalid_cursor_raises_a_value_error(project, cursor):
    with pytest.raises(InvalidCursor) as info:
        paginate_keyset(ActivityEvent.objects.for_project(project), cursor, limit=10)
    assert isinstance(info.value, ValueError)


def test_iterate_keyset_streams_every_row_in_chunks(project):
    for i in range(23):
        make_event(project, minutes_ago=i)
    rows = list(iterate_keyset(ActivityEvent.objects.for_project(project), chunk_size=5, fields=("id", "created_at")))
    assert len(rows) == 23 and len({r[0] for r in rows}) == 23
    actions = [ProjectAction.objects.create(project=project, action_type="deployment") for _ in range(7)]
    streamed = list(iterate_keyset(ProjectAction.objects.for_project(project), chunk_size=3))
    assert {a.pk for a in streamed} == {a.pk for a in actions}


# ----- insights -----


def test_insights_counts_durations_and_failure_rate(project):
    for duration in (100, 200, 300, 400):
        make_event(project, event_type=EventType.APR_COMPLETED, duration=duration)
    make_event(project, event_type=EventType.APR_FAILED, status=EventStatus.FAILED, duration=1000)
    make_event(project, event_type=EventType.INDEXING_STARTED, status=EventStatus.IN_PROGRESS)
    make_event(project, event_type=EventType.INDEXING_STARTED, minutes_ago=60 * 24 * 60)  # outside 30 days

    data = project_insights(project, days=30)
    assert data.by_type[0] == ("APR_COMPLETED", "APR completed", 4)
    assert data.total == 6
    assert data.by_status == {"IN_PROGRESS": 1, "COMPLETED": 4, "FAILED": 1}
    assert data.failure_rate == pytest.approx(1 / 5)
    stats = {s.event_type: s for s in data.durations}
    assert stats["APR_COMPLETED"].avg_ms == pytest.approx(250)
    # Four timed events are too few for a p95 (lib/samples.py): the count and the longest instead.
    assert stats["APR_COMPLETED"].p95_ms is None and stats["APR_COMPLETED"].max_ms == 400
    assert stats["APR_COMPLETED"].spread.tail == "longest 400 ms of 4 timed events"
    assert len(data.by_day) == 30 and data.by_day[-1].total == 6 and data.by_day[-1].failed == 1
    assert sum(d.total for d in data.by_day[:-1]) == 0
    assert data.as_dict()["by_day"][-1]["total"] == 6
    assert len(project_insights(project, days=7).by_day) == 7


def test_insights_of_a_filtered_queryset_count_only_its_events(project):
    make_event(project, event_type=EventType.APR_COMPLETED, status=EventStatus.COMPLETED, duration=100)
    make_event(project, event_type=EventType.INDEXING_STARTED, status=EventStatus.FAILED, duration=900)
    data = project_insights(project, days=7, queryset=ActivityEvent.objects.for_project(project).failed())
    assert data.total == 1 and data.by_type == [("INDEXING_STARTED", "Indexing started", 1)]
    assert data.failure_rate == pytest.approx(1.0)


def test_today_counts_count_todays_events_across_projects(project):
    other = Project.objects.create(name="Other", slug="other-today")
    make_event(project, status=EventStatus.COMPLETED)
    make_event(other, status=EventStatus.FAILED)
    make_event(project, status=EventStatus.FAILED, minutes_ago=60 * 24 * 3)  # not today
    assert today_counts([project, other]) == {"IN_PROGRESS": 0, "COMPLETED": 1, "FAILED": 1}


def test_insights_reject_unbounded_windows(project):
    with pytest.raises(ValueError):
        project_insights(project, days=10_000)


def test_summaries_are_sentences_counting_actions_not_numbers_in_their_text(project):
    ProjectAction.objects.create(project=project, action_type="endpoints_added", action_details="Added 2 endpoints: GET /a, POST /a")
    ProjectAction.objects.create(project=project, action_type="endpoints_added", action_details="Added 3 endpoints: …")
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Deployed")
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Boom", status="failed")
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Deploying", status="in_progress")
    ProjectAction.objects.create(project=project, action_type="member_added", action_details="Added 40 people")
    ProjectAction.objects.create(project=project, action_type="api_key_created", action_details="Key 1")
    ProjectAction.objects.create(project=project, action_type="api_key_created", action_details="Key 2")
    ProjectAction.objects.create(project=project, action_type="cache_flushed", action_details="Flushed 9 caches")
    sentences = action_summaries(ProjectAction.objects.for_project(project).today())
    assert sentences == [
        "3 deployments today (1 failed, 1 still in progress).",
        "2 API keys created today.",
        "2 endpoint additions today.",
        "1 “cache flushed” action today.",
        "1 member added today.",
    ]
    data = project_insights(project)
    assert "1 member added today, none by this time yesterday." in data.summaries
