"""Monthly partitions vs one plain table, and retention by dropping a partition vs the DELETE it replaces.

    BENCH_DATABASE_URL=postgres://…/ah_bench_scale python -m bench partitioning --rows 1000000
    (also the last part of `python -m bench scale`)

1. The same loaded events (bench/activity.py's loader: 1 year, 4 big + 20 small projects) read from a plain
   table and from the table partitioned by month (converted by events 0009's own function, timed): feed first
   page (a big project and a small one), rare type filter, keyset page 100, insights 30 and 90 days; median of
   --repeat runs each, ratio, and the SQL queries each ran (a partitioned page reads its recent window first and
   the older rows only when the window is short: events/pagination.py newest_rows).
2. Retention: one extra month of --month-rows events (default 1,000,000) 14 months back, every project keeping
   380 days (so only that month is due). prune_activity on the partitioned table (drops the partition) vs
   prune_activity on the plain table (its batched DELETE), with the table's size before and after (and after
   a plain VACUUM for the DELETE: the space stays in the table until VACUUM FULL or a rewrite).
"""

import subprocess
import time

REPEAT = 15
TABLE = "events_activityevent"


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored events (default 1,000,000)")
    add_partition_arguments(parser)


def add_partition_arguments(parser):
    parser.add_argument("--month-rows", type=int, default=1_000_000, help="events in the month retention removes")
    parser.add_argument("--partition-repeat", type=int, default=REPEAT, help="timed runs per partition figure")
    parser.add_argument("--skip-partitions", action="store_true", help="(bench scale) skip this part")


def _load():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def _convert(partitioned: bool) -> float:
    from django.db import connection

    from events.partitions import convert_table, is_partitioned

    if is_partitioned(TABLE) == partitioned:
        return 0.0
    start = time.perf_counter()
    with connection.schema_editor() as editor:
        convert_table(editor, TABLE, partitioned=partitioned)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return elapsed


def _size() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        # A partitioned table's own size is 0: add its partitions (and their indexes and TOAST).
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "WHERE c.oid = %s::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
            [TABLE, TABLE],
        )
        return cursor.fetchone()[0]


def _queries(project, small, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.common import timed
    from events.filters import ActivityEventFilter
    from events.insights import project_insights
    from events.models.activity import ActivityEvent
    from events.pagination import cursor_for, paginate_keyset

    def base(of=project):
        return ActivityEvent.objects.for_project(of).for_feed()

    rare = ActivityEventFilter({"type": ["TEST_GENERATION"]}, queryset=base(), project=project)
    assert rare.is_valid(), rare.errors
    cursor = cursor_for(base().order_by("-created_at", "-id")[99 * 50])
    figures = {}
    for name, fn, runs in [
        ("feed first page", lambda: paginate_keyset(base(), None, 50).items, repeat),
        ("first page, small project", lambda: paginate_keyset(base(small), None, 50).items, repeat),
        ("rare type filter (0.1%)", lambda: paginate_keyset(rare.qs, None, 50).items, repeat),
        ("keyset page 100", lambda: paginate_keyset(base(), cursor, 50).items, repeat),
        ("insights 30 days", lambda: project_insights(project, 30), max(5, repeat // 2)),
        ("insights 90 days", lambda: project_insights(project, 90), max(5, repeat // 2)),
    ]:
        median, p95, _ = timed(fn, repeat=runs)
        with CaptureQueriesContext(connection) as queries:
            fn()
        figures[name] = (median, p95, _load(), len(queries.captured_queries))
    return figures


MONTH_SQL = f"""
INSERT INTO {TABLE} (project_id, user_id, event_type, entity_type, entity_id, title, description, metadata, status,
                     duration, external_id, created_at, updated_at)
SELECT project_id, user_id, event_type, entity_type, entity_id, title, description, metadata, status, duration, NULL,
       %(start)s::timestamptz + (%(end)s::timestamptz - %(start)s::timestamptz) * ((id %% %(rows)s)::float8 / %(rows)s),
       updated_at
FROM {TABLE} ORDER BY id LIMIT %(rows)s
"""


def _add_month(rows, start, end) -> float:
    from django.db import connection

    from events.partitions import create_month_partition, is_partitioned, partition_name

    began = time.perf_counter()
    with connection.cursor() as cursor:
        if is_partitioned(TABLE):
            cursor.execute("SELECT to_regclass(%s)", [partition_name(TABLE, start)])
            if cursor.fetchone()[0] is None:
                create_month_partition(TABLE, start)
        cursor.execute(MONTH_SQL, {"start": start, "end": end, "rows": rows})
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - began


def _prune() -> tuple[float, int, list[str]]:
    from events.retention import prune_activity

    began = time.perf_counter()
    plan = prune_activity()
    return time.perf_counter() - began, plan.rows, plan.lines()


def measure(args):
    from datetime import UTC, datetime

    from django.db import connection

    from bench.activity import load
    from bench.common import machine_line
    from events.models.activity import ActivityEvent
    from events.partitions import add_months, month_start, monthly_partitions
    from projects.models import Project

    repeat = args.partition_repeat
    print(f"\n## Partitions ({machine_line()})")
    print("load average (1, 5, 15 min) at the start:", _load())
    unpartition_s = _convert(False)
    _, big, smalls = load(args.rows, reload=False)
    total = ActivityEvent.objects.count()
    project = big[0]
    in_project = ActivityEvent.objects.for_project(project).count()
    print(f"{total:,} events ({in_project:,} in {project.slug}); plain table"
          + (f" (converted back from partitioned in {unpartition_s:.1f} s)" if unpartition_s else ""))
    plain = _queries(project, smalls[0], repeat)

    # Retention: one month of month_rows events, 14 months back, every project keeping 380 days (only it is due).
    start = add_months(month_start(datetime.now(UTC)), -14)
    Project.objects.update(retention_days=380)
    retention = [_retention("plain: prune_activity's batched DELETE", args.month_rows, start)]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {TABLE}")
    vacuumed = _size()

    partition_s = _convert(True)
    months = len(monthly_partitions(TABLE))
    print(f"Converted to monthly partitions in {partition_s:.1f} s ({total:,} rows, {months} month partitions + DEFAULT; "
          "events 0009's convert_table: copy, then every index and constraint built once)")
    partitioned = _queries(project, smalls[0], repeat)
    retention.append(_retention("partitioned: prune_activity drops the month's partition", args.month_rows, start))

    print(f"\n### Feed and insights, {total:,} events, plain vs partitioned (median of {repeat} runs; insights {max(5, repeat // 2)})")
    print("| query | plain median ms (p95) | partitioned median ms (p95) | partitioned / plain | SQL queries (plain; partitioned) | load avg (plain; partitioned) |")
    print("|---|---:|---:|---:|---|---|")
    for name, (median, p95, load_plain, n_plain) in plain.items():
        pm, pp, load_part, n_part = partitioned[name]
        print(f"| {name} | {median:.2f} ({p95:.2f}) | {pm:.2f} ({pp:.2f}) | {pm / median:.2f}× | {n_plain}; {n_part} | {load_plain}; {load_part} |")

    print(f"\n### Retention: removing {start:%Y-%m} ({args.month_rows:,} events) from {total + args.month_rows:,}")
    print("| table | size before | prune_activity s | rows removed | size after | load avg |")
    print("|---|---:|---:|---:|---:|---|")
    for label, before, seconds, removed, after, load_avg, _ in retention:
        print(f"| {label} | {before / 2**20:,.0f} MiB | {seconds:.2f} | {removed:,} | {after / 2**20:,.0f} MiB | {load_avg} |")
    print(f"plain table after a VACUUM (not FULL): {vacuumed / 2**20:,.0f} MiB (the deleted rows' space stays allocated)")
    for label, *_, lines in retention:
        print(f"{label}: " + "; ".join(lines))
    print("load average (1, 5, 15 min) at the end:", _load())


def _retention(label, rows, start):
    from events.partitions import add_months

    loaded = _add_month(rows, start, add_months(start, 1))
    print(f"{label}: loaded {rows:,} events into {start:%Y-%m} in {loaded:.1f} s")
    before = _size()
    seconds, removed, lines = _prune()
    return label, before, seconds, removed, _size(), _load(), lines


def run(args):
    measure(args)
