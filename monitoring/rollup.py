"""Keeping workflow_daily_stats in step with finished runs (see models/rollup.py)."""

from datetime import UTC, date

from django.db import IntegrityError, connection, transaction

from .models import RunStatus, WorkflowDailyStats, WorkflowExecution
from .models.rollup import bucket_of

COUNTER = {
    RunStatus.SUCCESS: "successful_runs",
    RunStatus.FAILED: "failed_runs",
    RunStatus.CANCELLED: "cancelled_runs",
}


def add_finished_run(execution):
    """Count one run that just finished (called once per run, in the transaction that finishes it)."""
    day = execution.started_at.astimezone(UTC).date()
    key = {"project_id": execution.project_id, "workflow_name": execution.workflow_name,
           "environment": execution.environment, "day": day}
    with transaction.atomic():
        row = WorkflowDailyStats.objects.select_for_update().filter(**key).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = WorkflowDailyStats.objects.create(**key)
            except IntegrityError:  # another finish created it a moment ago
                pass
            row = WorkflowDailyStats.objects.select_for_update().get(**key)
        setattr(row, COUNTER[execution.status], getattr(row, COUNTER[execution.status]) + 1)
        if execution.duration_ms is not None:
            row.total_duration_ms += execution.duration_ms
            row.timed_runs += 1
            bucket = str(bucket_of(execution.duration_ms))
            row.duration_histogram[bucket] = row.duration_histogram.get(bucket, 0) + 1
            row.max_duration_ms = max(row.max_duration_ms or 0, execution.duration_ms)
        if row.last_started_at is None or execution.started_at > row.last_started_at:
            row.last_started_at = execution.started_at
        row.save()


def rebuild(since=None):
    """Recompute the daily totals from the runs (all of them, or those started on or after `since`)."""
    runs = WorkflowExecution.objects.finished()
    stats = WorkflowDailyStats.objects.all()
    if since is not None:
        # Whole UTC days: the first day is recomputed from its midnight.
        day_start = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        runs = runs.filter(started_at__gte=day_start)
        stats = stats.filter(day__gte=day_start.date())
    rows: dict[tuple[int, str, str, date], WorkflowDailyStats] = {}
    for pid, name, env, status, started, ms in runs.values_list(
        "project_id", "workflow_name", "environment", "status", "started_at", "duration_ms"
    ).iterator(chunk_size=5000):
        key = (pid, name, env, started.astimezone(UTC).date())
        row = rows.get(key)
        if row is None:
            row = rows[key] = WorkflowDailyStats(
                project_id=pid, workflow_name=name, environment=env, day=key[3], duration_histogram={}
            )
        setattr(row, COUNTER[status], getattr(row, COUNTER[status]) + 1)
        if ms is not None:
            row.total_duration_ms += ms
            row.timed_runs += 1
            bucket = str(bucket_of(ms))
            row.duration_histogram[bucket] = row.duration_histogram.get(bucket, 0) + 1
            row.max_duration_ms = max(row.max_duration_ms or 0, ms)
        if row.last_started_at is None or started > row.last_started_at:
            row.last_started_at = started
    with transaction.atomic():
        stats.delete()
        WorkflowDailyStats.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)


# PostgreSQL-side rebuild for large tables (the benchmark): same buckets as bucket_of().
REBUILD_SQL = """
INSERT INTO workflow_daily_stats (project_id, workflow_name, environment, day, successful_runs, failed_runs, cancelled_runs,
    total_duration_ms, timed_runs, max_duration_ms, last_started_at, duration_histogram)
WITH b AS (
    SELECT project_id, workflow_name, environment, (started_at AT TIME ZONE 'UTC')::date AS day, status,
           CASE WHEN duration_ms IS NOT NULL
                THEN greatest(0, floor(ln(greatest(duration_ms, 100) / 100.0) / ln(1.1)))::int END AS bucket,
           count(*) AS n, sum(duration_ms) AS ms, count(duration_ms) AS timed, max(duration_ms) AS longest,
           max(started_at) AS last
    FROM workflow_executions WHERE status <> 'RUNNING'
    GROUP BY 1, 2, 3, 4, 5, 6
), h AS (
    SELECT project_id, workflow_name, environment, day, jsonb_object_agg(bucket::text, timed) AS histogram
    FROM (SELECT project_id, workflow_name, environment, day, bucket, sum(timed) AS timed FROM b
          WHERE bucket IS NOT NULL GROUP BY 1, 2, 3, 4, 5) AS per_bucket
    GROUP BY 1, 2, 3, 4
), t AS (
    SELECT project_id, workflow_name, environment, day,
           coalesce(sum(n) FILTER (WHERE status = 'SUCCESS'), 0) AS ok,
           coalesce(sum(n) FILTER (WHERE status = 'FAILED'), 0) AS failed,
           coalesce(sum(n) FILTER (WHERE status = 'CANCELLED'), 0) AS cancelled,
           coalesce(sum(ms), 0) AS ms, sum(timed) AS timed, max(longest) AS longest, max(last) AS last
    FROM b GROUP BY 1, 2, 3, 4
)
SELECT t.project_id, t.workflow_name, t.environment, t.day, t.ok, t.failed, t.cancelled, t.ms, t.timed, t.longest, t.last,
       coalesce(h.histogram, '{}'::jsonb)
FROM t LEFT JOIN h USING (project_id, workflow_name, environment, day)
"""


def rebuild_in_database():
    """The whole rollup recomputed by PostgreSQL in one statement (used by the benchmark's bulk load)."""
    if connection.vendor != "postgresql":
        return rebuild()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM workflow_daily_stats")
        cursor.execute(REBUILD_SQL)
        return cursor.rowcount

