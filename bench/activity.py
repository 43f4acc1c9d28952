"""Activity feed, filters, search, insights and export at a million events (PostgreSQL).

    python -m bench activity --rows 1000000

Loads the events with one INSERT … SELECT generate_series (server-side, no Python row building), once: a later
run with the same --rows reuses the data (--reload forces a new load). Then reports median and p95 for the
feed's first page, keyset page 100 beside OFFSET page 100, each filter alone, text search, a small project, the
new-events count, insights, the HTML response and export rows/s, and prints every query's EXPLAIN with a flag
on any sequential scan of the events table.
"""

import re
import resource
import time

BIG_PROJECTS = 4
SMALL_PROJECTS = 20
USERS = 50
PAGE = 50
EVENTS_TABLE = "events_activityevent"


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="events to load (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--reload", action="store_true", help="drop the loaded events and load again")
    parser.add_argument("--explain", action="store_true", help="print every EXPLAIN (ANALYZE, BUFFERS) in full")


# ----- loading -----


def _fixtures():
    from django.contrib.auth import get_user_model

    from projects.models import Membership, Project, Role

    User = get_user_model()
    users = []
    for i in range(USERS):
        user, _ = User.objects.get_or_create(username=f"bench-user-{i:02d}")
        users.append(user)
    projects = []
    for name in [f"bench-big-{i}" for i in range(BIG_PROJECTS)] + [f"bench-small-{i:02d}" for i in range(SMALL_PROJECTS)]:
        project, _ = Project.objects.get_or_create(slug=name, defaults={"name": name})
        projects.append(project)
    for project in projects:
        for user in users[:10]:
            Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.OWNER})
    return users, projects[:BIG_PROJECTS], projects[BIG_PROJECTS:]


# Every attribute comes from its own hash of i (hashint4(i + k)), so none aliases with another: each project gets
# every type, status, user and the rare type / search word in the same proportions.
LOAD_SQL = """
INSERT INTO events_activityevent
  (project_id, user_id, event_type, entity_type, entity_id, title, description, metadata, status, duration,
   external_id, created_at, updated_at)
SELECT
  CASE WHEN h.p %% 50 = 0 THEN (%(small)s::bigint[])[1 + (h.p / 50) %% %(n_small)s]
       ELSE (%(big)s::bigint[])[1 + h.p %% %(n_big)s] END,
  CASE WHEN h.u %% 10 = 0 THEN NULL ELSE (%(users)s::int[])[1 + h.u %% %(n_users)s] END,
  t.event_type,
  CASE WHEN t.event_type LIKE 'INDEXING%%' THEN 'indexing' WHEN t.event_type LIKE 'APR%%' THEN 'apr_session'
       WHEN t.event_type LIKE 'CHAT%%' THEN 'chat_message' WHEN t.event_type LIKE 'AUTO_FIX%%' THEN 'auto_fix'
       ELSE 'codegen' END,
  'ent-' || (i / 7),
  initcap(lower(replace(t.event_type, '_', ' '))) || ' #' || i,
  CASE WHEN h.w %% 100 = 3 THEN 'Repository clone timeout after 120 s on worker ' || (i %% 17)
       ELSE 'Processed ' || (i %% 900) || ' files on branch main for release ' || (i %% 40) END,
  jsonb_build_object('branch', 'main', 'files', i %% 500, 'commit', md5(i::text)),
  s.status,
  CASE WHEN s.status = 'IN_PROGRESS' THEN NULL ELSE 200 + h.d %% 60000 END,
  NULL,
  now() - interval '365 days' * (1 - i::float8 / %(rows)s) - interval '1 second' * (h.d %% 7),
  now() - interval '365 days' * (1 - i::float8 / %(rows)s)
FROM generate_series(1, %(rows)s) AS i,
LATERAL (SELECT hashint4(i) & 2147483647 AS p, hashint4(i + 1000000007) & 2147483647 AS u,
                hashint4(i + 2000000011) & 2147483647 AS t, hashint4(-i) & 2147483647 AS s,
                hashint4(-i - 1000000007) & 2147483647 AS w, hashint4(-i - 2000000011) & 2147483647 AS d) AS h,
LATERAL (SELECT CASE WHEN h.t %% 1000 = 7 THEN 'TEST_GENERATION'
                     ELSE (%(types)s::text[])[1 + (h.t / 1000) %% %(n_types)s] END AS event_type) AS t,
LATERAL (SELECT CASE WHEN h.s %% 100 < 7 THEN 'FAILED'
                     WHEN h.s %% 100 < 10 THEN 'IN_PROGRESS' ELSE 'COMPLETED' END AS status) AS s
"""


def load(rows, reload):
    from django.db import connection

    from events.models.activity import ActivityEvent, EventType

    users, big, small = _fixtures()
    existing = ActivityEvent.objects.count()
    if existing == rows and not reload:
        print(f"Reusing {existing:,} loaded events (--reload to load again).")
        return users, big, small
    common = [t for t in EventType.values if t != EventType.TEST_GENERATION]
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events_activityevent RESTART IDENTITY")
        cursor.execute(
            LOAD_SQL,
            {
                "rows": rows, "small": [p.pk for p in small], "n_small": len(small), "big": [p.pk for p in big],
                "n_big": len(big), "users": [u.pk for u in users], "n_users": len(users), "types": common,
                "n_types": len(common),
            },
        )
        loaded = time.perf_counter() - start
        cursor.execute("VACUUM ANALYZE events_activityevent")
    print(f"Loaded {rows:,} events in {loaded:.1f} s (INSERT … SELECT generate_series, indexes maintained).")
    return users, big, small


# ----- measuring -----


class Report:
    def __init__(self, repeat, full_explain):
        self.repeat, self.full_explain, self.rows = repeat, full_explain, []

    def measure(self, name, fn, queryset=None, repeat=None, note=""):
        from bench.common import explain, timed

        median, p95, result = timed(fn, repeat=repeat or self.repeat)
        seq, server = "—", ""
        if queryset is not None:
            plan, seq_tables = explain(queryset, table_names=(EVENTS_TABLE,))
            seq = "SEQ SCAN" if seq_tables else "index"
            found = re.search(r"Execution Time: ([0-9.]+) ms", plan)
            server = found.group(1) if found else ""
            print(f"\n--- EXPLAIN {name}{'  <<< SEQUENTIAL SCAN OF ' + EVENTS_TABLE if seq_tables else ''}")
            lines = plan.splitlines()
            print("\n".join(lines if self.full_explain else [ln for ln in lines if "Scan" in ln or "Planning" in ln or "Execution" in ln or "JIT" in ln]))
        self.rows.append((name, median, p95, server, seq, note))
        return median, p95, result

    def table(self, first_page_ms):
        print("\n| measurement | median ms | p95 ms | vs first page | SQL execution ms (EXPLAIN ANALYZE) | plan | note |")
        print("|---|---:|---:|---:|---:|---|---|")
        for name, median, p95, server, seq, note in self.rows:
            ratio = f"{median / first_page_ms:.2f}×" if first_page_ms else ""
            print(f"| {name} | {median:.2f} | {p95:.2f} | {ratio} | {server} | {seq} | {note} |")


def run(args):
    from django.test import Client

    from bench.common import machine_line
    from events.filters import ActivityEventFilter
    from events.insights import project_insights
    from events.models.activity import ActivityEvent
    from events.pagination import after_cursor, count_newer, cursor_for, paginate_keyset

    users, big, small = load(args.rows, args.reload)
    project, tiny = big[0], small[0]
    print(machine_line())
    total = ActivityEvent.objects.count()
    in_big = ActivityEvent.objects.for_project(project).count()
    print(f"{total:,} events; project {project.slug}: {in_big:,}; small project {tiny.slug}: "
          f"{ActivityEvent.objects.for_project(tiny).count():,}; rare type TEST_GENERATION in {project.slug}: "
          f"{ActivityEvent.objects.for_project(project).of_type('TEST_GENERATION').count():,}")

    report = Report(args.repeat, args.explain)


    def base(p):
        # Exactly the feed view's queryset.
        return ActivityEvent.objects.for_project(p).for_feed()

    def ordered(qs):
        return qs.order_by("-created_at", "-id")

    def filtered(params, p=project):
        f = ActivityEventFilter(params, queryset=base(p), project=p)
        assert f.is_valid(), f.errors
        return f.qs

    first_ms, _, _ = report.measure(
        "first page of 50 (big project)", lambda: paginate_keyset(base(project), None, PAGE).items,
        ordered(base(project))[: PAGE + 1],
    )
    report.measure("first page, small project", lambda: paginate_keyset(base(tiny), None, PAGE).items,
                   ordered(base(tiny))[: PAGE + 1], note=f"{tiny.slug} among {BIG_PROJECTS} big ones")
    # Filtered pages time the query and the rows, like the first page; validating the URL's filters with the
    # FilterSet (a form) is input handling, timed on its own below and included in the HTML figures.
    rare = filtered({"type": ["TEST_GENERATION"]})
    report.measure("rare type (0.1% of project)", lambda: paginate_keyset(rare, None, PAGE).items,
                   ordered(rare)[: PAGE + 1])
    report.measure("FilterSet: validate ?type=TEST_GENERATION (no query)", lambda: filtered({"type": ["TEST_GENERATION"]}),
                   None, note="django-filter form; part of every filtered request")

    if in_big <= 99 * PAGE:
        raise SystemExit(f"{project.slug} holds {in_big:,} events, fewer than 100 pages: load more (--rows 30000 or more).")
    row_4950 = ordered(base(project))[99 * PAGE]
    cursor = cursor_for(row_4950)
    report.measure("keyset page 100", lambda: paginate_keyset(base(project), cursor, PAGE).items,
                   after_cursor(ordered(base(project)), cursor)[: PAGE + 1])
    report.measure("OFFSET page 100 (for comparison)", lambda: list(ordered(base(project))[99 * PAGE: 100 * PAGE]),
                   ordered(base(project))[99 * PAGE: 100 * PAGE], note="not used by the app")

    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    member = users[1]
    filters = [
        ("filter status=FAILED", {"status": ["FAILED"]}),
        ("filter category=auto_fix (3 types)", {"category": "auto_fix"}),
        ("filter several types (2)", {"type": ["APR_FAILED", "AUTO_FIX_FAILED"]}),
        ("filter user", {"user": member.username}),
        ("filter entity_type=apr_session", {"entity_type": "apr_session"}),
        ("filter date range (a week, 3 months ago)", {"since": str(today - timedelta(days=97)), "until": str(today - timedelta(days=90))}),
        ("text search 'timeout' (1% of rows)", {"q": "timeout"}),
        ("text search 'timeout' + status=FAILED", {"q": "timeout", "status": ["FAILED"]}),
        ("text search 'branch' (in every row)", {"q": "branch"}),
    ]
    for name, params in filters:
        qs = filtered(params)
        report.measure(name, lambda qs=qs: paginate_keyset(qs, None, PAGE).items, ordered(qs)[: PAGE + 1])

    absent = filtered({"q": "nowhere"})
    report.measure("text search, word in no row (worst case)", lambda: paginate_keyset(absent, None, PAGE).items,
                   ordered(absent)[: PAGE + 1], repeat=3, note="see the text-search note")

    top = ordered(base(project))[100]
    report.measure("new-events count (100 newer, capped)", lambda: count_newer(base(project), cursor_for(top)),
                   None)

    from events.insights import window_start

    since = window_start(30)
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    # The first of insights' two aggregates (the second, per type with PERCENTILE_CONT, reads the same index range).
    insights_qs = (ActivityEvent.objects.for_project(project).since(since).order_by()
                   .annotate(day=TruncDate("created_at")).values_list("day", "status").annotate(n=Count("id")))
    report.measure("insights, 30-day window", lambda: project_insights(project, 30), insights_qs, repeat=10,
                   note=f"{ActivityEvent.objects.for_project(project).since(since).count():,} events in window")
    report.measure("insights, 90-day window", lambda: project_insights(project, 90), None, repeat=10)

    client = Client(HTTP_HOST="localhost")  # the benchmark runs with DEBUG off: a host ALLOWED_HOSTS accepts
    client.force_login(users[0])
    feed_url = f"/projects/{project.slug}/activity/"
    html_ms, _, _ = report.measure("HTML: whole feed response", lambda: client.get(feed_url).status_code, None,
                                   note="Django test client, sessions, middleware, template")
    report.measure("HTML: rare filter", lambda: client.get(feed_url, {"type": "TEST_GENERATION"}).status_code, None)
    report.measure("HTML: keyset page 100 fragment", lambda: client.get(feed_url, {"cursor": cursor}, headers={"HX-Request": "true"}).status_code, None)
    report.measure("HTML: home (recent across 24 projects)", lambda: client.get("/").status_code, None)
    report.table(first_ms)

    # Export: stream the whole big project through the real view and count rows/s; memory must stay flat.
    print("\n| export | rows | seconds | rows/s | peak RSS growth |")
    print("|---|---:|---:|---:|---:|")
    for fmt in ("csv", "jsonl"):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        response = client.get(f"/projects/{project.slug}/activity/export.{fmt}")
        lines = 0
        for chunk in response.streaming_content:  # type: ignore[attr-defined]  # the export is a StreamingHttpResponse
            lines += chunk.count(b"\n")
        seconds = time.perf_counter() - start
        rows = lines - (1 if fmt == "csv" else 0)
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        print(f"| {fmt} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | {growth:.0f} MiB |")
