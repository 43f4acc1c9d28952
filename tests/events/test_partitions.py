"""Monthly partitions of the activity tables on PostgreSQL: created ahead, no row ever refused, the conversion
keeps every row, check_schema judges them. (SQLite keeps plain tables: these are PostgreSQL concepts.)"""

from datetime import UTC, datetime

import pytest
from django.db import connection

from events.models import ActivityEvent, ProjectAction
from events.partitions import (
    convert_table,
    default_partition_name,
    ensure_partitions,
    is_partitioned,
    monthly_partitions,
)
from tests.schema_drift import assert_clean, drifted, findings, run_repair

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL concept")

TABLE = "events_activityevent"


def partition_of(event) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def event_at(project, moment, **extra):
    return ActivityEvent.objects.create(project=project, event_type="INDEXING_STARTED", entity_type="repo",
                                        title="t", created_at=moment, **extra)


def test_migrated_tables_are_partitioned_with_this_month_and_the_months_ahead(db, settings):
    now = datetime.now(UTC)
    for table in (TABLE, "project_actions"):
        assert is_partitioned(table)
        starts = [start for _, start, _ in monthly_partitions(table)]
        this_month = datetime(now.year, now.month, 1, tzinfo=UTC)
        assert this_month in starts
        assert len([s for s in starts if s >= this_month]) == settings.PARTITION_MONTHS_AHEAD + 1


def test_creating_partitions_ahead_is_idempotent(db):
    # A November five years from now: far beyond the partitions migrate made, whatever day the suite runs.
    year = datetime.now(UTC).year + 5
    later = datetime(year, 11, 20, tzinfo=UTC)
    months = (f"{year}11", f"{year}12", f"{year + 1}01")
    created = ensure_partitions(2, now=later)
    assert created == [f"{t}_p{m}" for t in (TABLE, "project_actions") for m in months]
    assert ensure_partitions(2, now=later) == []
    assert [(s, e) for n, s, e in monthly_partitions(TABLE) if n == f"{TABLE}_p{year}12"] == [
        (datetime(year, 12, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    ]


def test_an_event_beyond_every_partition_is_kept_and_moves_into_its_month_when_created(project):
    far_future = event_at(project, datetime(2999, 5, 17, 12, tzinfo=UTC))
    far_past = event_at(project, datetime(1971, 2, 3, tzinfo=UTC))
    action = ProjectAction.objects.create(project=project, action_type="deployment", created_at=datetime(2999, 5, 1, tzinfo=UTC))
    assert partition_of(far_future) == partition_of(far_past) == default_partition_name(TABLE)
    assert ActivityEvent.objects.filter(pk__in=[far_future.pk, far_past.pk]).count() == 2

    # The scheduler reaching that month: its partition is created and the row moves there, same id, same data.
    assert f"{TABLE}_p299905" in ensure_partitions(0, now=datetime(2999, 5, 2, tzinfo=UTC))
    assert partition_of(far_future) == f"{TABLE}_p299905"
    moved = ActivityEvent.objects.get(pk=far_future.pk)
    assert (moved.title, moved.created_at) == ("t", far_future.created_at)
    assert ProjectAction.objects.filter(pk=action.pk).exists()
    assert partition_of(far_past) == default_partition_name(TABLE)


def test_converting_populated_tables_keeps_rows_ids_and_the_sequence(project):
    events = [event_at(project, datetime(2025, m, 10, tzinfo=UTC), external_id=f"x{m}") for m in (1, 2, 3)]
    events.append(event_at(project, datetime.now(UTC)))
    before = sorted(ActivityEvent.objects.values_list("pk", "title", "created_at", "external_id"))
    with connection.schema_editor() as editor:
        convert_table(editor, TABLE, partitioned=False)
    assert not is_partitioned(TABLE)
    assert sorted(ActivityEvent.objects.values_list("pk", "title", "created_at", "external_id")) == before
    # Plain while its partitioning migration is recorded: check_schema says so, and nothing else.
    assert [f.kind for f in findings()] == ["not_partitioned"]

    with connection.schema_editor() as editor:
        convert_table(editor, TABLE, partitioned=True)
    assert is_partitioned(TABLE)
    assert sorted(ActivityEvent.objects.values_list("pk", "title", "created_at", "external_id")) == before
    assert {f"{TABLE}_p202501", f"{TABLE}_p202502", f"{TABLE}_p202503"} <= {n for n, _, _ in monthly_partitions(TABLE)}
    assert partition_of(events[0]) == f"{TABLE}_p202501"
    assert event_at(project, datetime.now(UTC)).pk > max(e.pk for e in events)
    assert_clean()


def test_healthy_partitioned_database_is_clean(db):
    assert_clean()


def test_missing_next_month_partition_is_reported_and_its_repair_clears_it(db):
    now = datetime.now(UTC)
    index = now.year * 12 + now.month  # next month
    name = f"{TABLE}_p{index // 12:04d}{index % 12 + 1:02d}"
    with drifted(f'DROP TABLE "{name}"'):
        [finding] = findings("missing_partition")
        assert finding.object == TABLE
        assert "DEFAULT partition" in finding.message and "create_partitions" in finding.message
        run_repair(finding.repair)
        assert findings("missing_partition") == []


def test_same_external_id_sent_twice_is_stored_once_on_the_partitioned_table(project):
    from events.ingest import ingest_events, validate_event

    item = validate_event(event_type="INDEXING_STARTED", entity_type="repo", title="t", external_id="retry-1")
    [(first, created)] = ingest_events(project, [item])
    [(again, created_again)] = ingest_events(project, [item])
    assert (created, created_again) == (True, False) and again.pk == first.pk
    assert ActivityEvent.objects.filter(external_id="retry-1").count() == 1
