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
from datetime import datetime

REPEAT = 15
TABLE = "events_activityevent"


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored events (default 1,000,000)")
    add_partition_arguments(parser)
    add_feed_arguments(parser)


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
    if args.feed:
        feed_pairs(args)
    else:
        measure(args)


# --- the feed's scenarios, partitioned vs plain, paired (`--feed`) ------------------------------------------------
#
#   BENCH_DATABASE_URL=postgres://…/ah_feed_bench python -m bench partitioning --rows 1000000 --feed
#
# The loaded database (partitioned, as migrated) is copied once into `<name>_plain` (CREATE DATABASE … TEMPLATE,
# then events 0009's convert_table back to one plain table): the same rows, ids, users, keys and statistics. A
# router sends every query of a call to one of the two, so each repetition times the same call on plain, on
# partitioned as the code was before the windows (the month before now, no top bound; the JSON feed unbounded) and
# on partitioned now, back to back, in a rotating order. Medians per round; --rounds rounds.

PLAIN_ALIAS = "plain"
ARMS = ("plain", "partitioned, before", "partitioned")


class _Route:
    """A database router in front of the others: every read and write of a call goes to `alias` while it is set."""

    alias: str | None = None

    def db_for_read(self, model, **hints):
        return self.alias

    db_for_write = db_for_read


ROUTE = _Route()


def add_feed_arguments(parser):
    parser.add_argument("--feed", action="store_true", help="only the paired feed scenarios, partitioned vs plain copy")
    parser.add_argument("--rounds", type=int, default=3, help="(--feed) rounds of paired runs")
    parser.add_argument("--feed-repeat", type=int, default=31, help="(--feed) paired repetitions per round")


def _plain_copy():
    """The alias of a plain-table copy of the loaded database, made once (and reused when it has as many rows)."""
    import psycopg
    from django.db import connections

    source = connections["default"].settings_dict
    name = f"{source['NAME']}_plain"
    admin = psycopg.connect(host=source["HOST"] or None, port=source["PORT"] or None, user=source["USER"],
                            dbname="postgres", autocommit=True)
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        rows = cursor.fetchone()[0]
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    connections.settings[PLAIN_ALIAS] = {**source, "NAME": name}
    if exists:
        with connections[PLAIN_ALIAS].cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE}")
            if cursor.fetchone()[0] != rows:
                exists = None
        connections[PLAIN_ALIAS].close()
        if not exists:
            admin.execute(f'DROP DATABASE "{name}"')
    if not exists:
        began = time.perf_counter()
        connections.close_all()
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source["NAME"]}"')
        copied = time.perf_counter() - began
        from events.partitions import convert_table

        began = time.perf_counter()
        with connections[PLAIN_ALIAS].schema_editor() as editor:
            convert_table(editor, TABLE, partitioned=False)
        with connections[PLAIN_ALIAS].cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {TABLE}")
        print(f"Copied the database to {name} in {copied:.1f} s; its events table made plain in "
              f"{time.perf_counter() - began:.1f} s.")
    else:
        print(f"Reusing the plain copy {name} ({rows:,} events).")
    admin.close()
    return PLAIN_ALIAS


def _months_of_their_own() -> int:
    """Give every month whose rows sit in the DEFAULT partition its own partition, as events 0009's conversion does
    (the loader writes a year of rows into a table migrate partitioned with this month and the next only)."""
    from datetime import UTC

    from django.db import connection

    from events.partitions import (
        HISTORY_MONTHS,
        add_months,
        create_month_partition,
        default_partition_name,
        month_start,
    )

    now = month_start(datetime.now(UTC))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {default_partition_name(TABLE)} "
            "WHERE created_at >= %s",
            [add_months(now, -HISTORY_MONTHS)],
        )
        months = sorted(m.replace(tzinfo=UTC) for (m,) in cursor.fetchall())
    for start in months:
        create_month_partition(TABLE, start)
    if months:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return len(months)


def _before_windows(model, before=None, using="default", **kwargs):
    """feed_windows as it was before (commit 7636070's newest_rows): the month before `before` or now with no top
    bound, then everything older."""
    from events.partitions import FeedWindows, Window, add_months, feed_windows, month_start

    if feed_windows(model, before, using=using) is None:
        return None
    from django.utils import timezone

    origin = before or timezone.now()
    start = add_months(month_start(origin), -1)

    def windows():
        yield Window(start, None)
        yield Window(None, start)

    return FeedWindows(windows(), origin)  # no shape: nothing remembered between pages


def _planned(queries) -> list[int]:
    """Partitions of the events table each captured SELECT on it plans (EXPLAIN, not run)."""
    import json
    import re

    from django.db import connection

    counts = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if TABLE not in sql or not sql.lstrip().upper().startswith("SELECT") or "pg_" in sql:
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            raw = cursor.fetchone()[0]
            text = raw if isinstance(raw, str) else json.dumps(raw)
            counts.append(len({n for n in re.findall(r'"Relation Name": "([^"]+)"', text) if n.startswith(TABLE)}))
    return counts


def feed_pairs(args):
    import statistics

    from django.contrib.auth import get_user_model
    from django.db import connections, router
    from django.http import QueryDict
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import events.pagination as pagination
    from bench.activity import load
    from bench.common import machine_line
    from events.filters import ActivityEventFilter
    from events.models.activity import ActivityEvent
    from events.partitions import feed_windows, is_partitioned, monthly_partitions
    from projects.models import ApiKey

    print(f"\n## The feed's scenarios, partitioned vs plain, paired ({machine_line()})")
    print("load average (1, 5, 15 min) at the start:", _load())
    _convert(True)
    users, big, _ = load(args.rows, reload=False)
    project, user = big[0], users[3]
    _plain_copy()
    moved = _months_of_their_own()
    if moved:
        print(f"Gave {moved} months their own partition (their rows had gone to the DEFAULT partition).")
    router.routers.insert(0, ROUTE)
    assert is_partitioned(TABLE) and not is_partitioned(TABLE, connections[PLAIN_ALIAS])
    total = ActivityEvent.objects.count()
    in_project = ActivityEvent.objects.for_project(project).count()
    print(f"{total:,} events ({in_project:,} in {project.slug}); rare type TEST_GENERATION there: "
          f"{ActivityEvent.objects.for_project(project).of_type('TEST_GENERATION').count():,}; "
          f"{len(monthly_partitions(TABLE))} month partitions + DEFAULT "
          f"({ActivityEvent.objects.filter(created_at__lt=monthly_partitions(TABLE)[0][1]).count():,} rows older)")

    page100 = pagination.cursor_for(
        ActivityEvent.objects.for_project(project).order_by("-created_at", "-id").only("id", "created_at")[99 * 50])
    clients = {}
    # API keys are always looked up on the primary (projects.models ApiKeyManager.authenticate): one key there serves
    # both arms, whose events queries the router sends to their database.
    token = ApiKey.objects.create_key(project=project, name="bench feed", scope="read", created_by=users[0])[1]
    for alias in ("default", PLAIN_ALIAS):
        ROUTE.alias = alias
        key_owner = get_user_model().objects.get(pk=users[0].pk)
        clients[alias] = Client(HTTP_HOST="localhost")
        clients[alias].force_login(key_owner)
    ROUTE.alias = None

    def ours(params="", cursor=None):
        filterset = ActivityEventFilter(QueryDict(params), project=project,
                                        queryset=ActivityEvent.objects.for_project(project).for_feed())
        assert filterset.is_valid(), filterset.errors
        return pagination.paginate_keyset(filterset.qs, cursor, 50).items

    def api(alias):
        response = Client(HTTP_HOST="localhost").get("/api/v1/feed", {"limit": 50},
                                                     headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.content[:300]
        return response

    def html(alias):
        response = clients[alias].get(f"/projects/{project.slug}/activity/")
        assert response.status_code == 200
        return response

    scenarios = [
        ("first page", lambda alias: ours()),
        ("type filter", lambda alias: ours("type=INDEXING_COMPLETED")),
        ("rare filter (0.1 %)", lambda alias: ours("type=TEST_GENERATION")),
        ("page 100", lambda alias: ours(cursor=page100)),
        ("one user", lambda alias: ours(f"user={user.username}")),
        ("JSON feed (GET /api/v1/feed)", api),
        ("HTML feed page (GET …/activity/)", html),
    ]
    arms = {"plain": (PLAIN_ALIAS, feed_windows), "partitioned, before": ("default", _before_windows),
            "partitioned": ("default", feed_windows)}

    def call(arm, name, fn):
        alias, windows = arms[arm]
        ROUTE.alias = alias
        # Before the windows the JSON feed was one unbounded query.
        pagination.feed_windows = (lambda *a, **k: None) if arm.endswith("before") and name.startswith("JSON") else windows
        try:
            db = [0.0]

            def clock(execute, sql, params, many, context):
                began = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    db[0] += time.perf_counter() - began

            # Both connections: the API key is always looked up on the primary, whichever arm runs.
            with connections["default"].execute_wrapper(clock), connections[PLAIN_ALIAS].execute_wrapper(clock):
                began = time.perf_counter()
                fn(alias)
                wall = time.perf_counter() - began
            return wall * 1000, db[0] * 1000
        finally:
            ROUTE.alias, pagination.feed_windows = None, feed_windows

    def shape(arm, name, fn):
        alias, _ = arms[arm]
        connection = connections[alias]
        call(arm, name, fn)  # warm: the partition list, the future-row check, the session
        ROUTE.alias = alias
        pagination.feed_windows = arms[arm][1] if not (arm.endswith("before") and name.startswith("JSON")) else (lambda *a, **k: None)
        try:
            with CaptureQueriesContext(connection) as queries:
                fn(alias)
        finally:
            ROUTE.alias, pagination.feed_windows = None, feed_windows
        events_queries = [q for q in queries.captured_queries if TABLE in q["sql"]]
        ROUTE.alias = alias
        try:
            planned = _planned(events_queries) if alias == "default" else [0] * len(events_queries)
        finally:
            ROUTE.alias = None
        return len(queries.captured_queries), len(events_queries), planned

    shapes = {(arm, name): shape(arm, name, fn) for name, fn in scenarios for arm in ARMS}
    results = {}  # (round, scenario, arm) -> (median wall, median db)
    loads = []
    for rnd in range(args.rounds):
        start_load = _load()
        for name, fn in scenarios:
            samples: dict[str, list[tuple[float, float]]] = {arm: [] for arm in ARMS}
            for rep in range(args.feed_repeat + 3):
                order = ARMS[rep % 3:] + ARMS[: rep % 3]
                for arm in order:
                    measured = call(arm, name, fn)
                    if rep >= 3:  # three warm-up repetitions
                        samples[arm].append(measured)
            for arm in ARMS:
                results[rnd, name, arm] = (statistics.median(w for w, _ in samples[arm]),
                                           statistics.median(d for _, d in samples[arm]),
                                           statistics.median(w - d for w, d in samples[arm]))
        loads.append((start_load, _load()))

    print(f"\n### Paired medians ({args.feed_repeat} repetitions per round, three arms back to back in rotating order)")
    print("| scenario | round | plain ms | partitioned before ms | partitioned ms | partitioned / plain | before / plain |"
          " load avg (start → end) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, _ in scenarios:
        for rnd in range(args.rounds):
            p, b, n = (results[rnd, name, arm][0] for arm in ARMS)
            print(f"| {name} | {rnd + 1} | {p:.2f} | {b:.2f} | {n:.2f} | {n / p:.2f}× | {b / p:.2f}× | "
                  f"{loads[rnd][0]} → {loads[rnd][1]} |")
    print("\n### Median over rounds: wall, database (time inside cursor.execute), Python (wall − database); "
          "queries (all; on the events table); partitions planned per events query")
    print("| scenario | arm | wall ms | database ms | Python ms | ratio to plain (wall) | queries | partitions planned |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for name, _ in scenarios:
        plain_wall = statistics.median(results[r, name, "plain"][0] for r in range(args.rounds))
        for arm in ARMS:
            wall, db, py = (statistics.median(results[r, name, arm][i] for r in range(args.rounds)) for i in range(3))
            n_all, n_events, planned = shapes[arm, name]
            planned_text = "—" if arm == "plain" else " + ".join(map(str, planned))
            print(f"| {name} | {arm} | {wall:.2f} | {db:.2f} | {py:.2f} | {wall / plain_wall:.2f}× | {n_all}; {n_events} |"
                  f" {planned_text} |")
    print("load average (1, 5, 15 min) at the end:", _load())
