"""Monitoring: dashboard overview over many workflow runs, and the daemon's health-check throughput.

    python -m bench monitoring [--executions 100000] [--workflows 100] [--days 30] [--checks 1000]
"""

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

TABLE = "workflow_executions"

# Runs spread evenly over the last --days days, 100 workflows round-robin; ~8 % fail, ~0.2 % still running.
LOAD_SQL = """
INSERT INTO workflow_executions (project_id, run_id, workflow_name, status, started_at, completed_at, duration_ms,
    tests_passed, tests_failed, tests_total, error_message, triggered_by, alert_state, created_at, updated_at)
SELECT %(project)s, 'bench-' || g, 'workflow-' || lpad((g %% %(workflows)s)::text, 3, '0'),
       s.status, s.started, CASE WHEN s.status = 'RUNNING' THEN NULL ELSE s.started + s.dur END,
       CASE WHEN s.status = 'RUNNING' THEN NULL ELSE (extract(epoch FROM s.dur) * 1000)::bigint END,
       95, CASE WHEN s.status = 'FAILED' THEN 5 ELSE 0 END, 100,
       CASE WHEN s.status = 'FAILED' THEN 'assertion failed' END, 'schedule',
       CASE WHEN s.status = 'RUNNING' THEN NULL ELSE 'NONE' END, now(), now()
FROM generate_series(1, %(rows)s) AS g,
LATERAL (SELECT now() - (g::float / %(rows)s) * interval '1 day' * %(days)s AS started,
                make_interval(secs => 5 + (g::bigint * 7919 %% 600) + random() * 30) AS dur,
                CASE WHEN g <= %(rows)s / 500 THEN 'RUNNING' WHEN random() < 0.08 THEN 'FAILED' ELSE 'SUCCESS' END
                AS status) AS s
"""


def add_arguments(parser):
    parser.add_argument("--executions", type=int, default=100_000, help="workflow runs to load (default 100,000)")
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--days", type=int, default=30, help="the runs span this many days up to now")
    parser.add_argument("--checks", type=int, default=1000, help="due health checks for the daemon (0 to skip)")
    parser.add_argument("--workers", type=int, default=32, help="daemon threads for the health checks")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reload", action="store_true", help="load the runs again even if the count matches")
    parser.add_argument("--explain", action="store_true", help="print the overview queries' plans in full")


def load(args):
    from django.db import connection

    from monitoring.models import WorkflowExecution, WorkflowSchedule
    from projects.models import Project

    project, _ = Project.objects.get_or_create(slug="bench-monitoring", defaults={"name": "Bench monitoring"})
    existing = WorkflowExecution.objects.count()
    if existing == args.executions and not args.reload:
        print(f"Reusing {existing:,} loaded runs (--reload to load again).")
        return project
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, workflow_daily_stats, workflow_metrics, system_health_checks, health_checks, notification_logs, monitoring_reports, workflow_schedules RESTART IDENTITY")
        cursor.execute(LOAD_SQL, {"project": project.pk, "rows": args.executions, "workflows": args.workflows, "days": args.days})
        loaded = time.perf_counter() - start
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    from monitoring.rollup import rebuild_in_database

    start = time.perf_counter()
    days = rebuild_in_database()
    print(f"Daily rollup rebuilt by PostgreSQL: {days:,} (workflow, day) rows in {time.perf_counter() - start:.1f} s.")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE workflow_daily_stats")
    # Half the workflows are scheduled (the overview lists them and their next run).
    for i in range(0, args.workflows, 2):
        WorkflowSchedule.objects.create(project=project, workflow_name=f"workflow-{i:03d}", cron_expression=f"{i % 60} * * * *")
    print(f"Loaded {args.executions:,} runs of {args.workflows} workflows over {args.days} days in {loaded:.1f} s "
          f"(INSERT … SELECT generate_series, indexes maintained), {args.workflows // 2} schedules.")
    return project


def bench_overview(args):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from bench.common import explain, timed
    from monitoring.stats import workflow_overview

    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="localhost")
    client.force_login(manager)

    results = []
    median, p95, rows = timed(workflow_overview, repeat=args.repeat)
    results.append(("overview data (workflow_overview)", median, p95))
    assert len(rows) == args.workflows, len(rows)

    def page():
        response = client.get("/monitoring/")
        assert response.status_code == 200, response.status_code
        return response

    median, p95, _ = timed(page, repeat=args.repeat)
    results.append(("GET /monitoring/ (full page, rendered)", median, p95))
    # CPU time of this process per page (the Python side: ORM, template), unaffected by waiting for a busy CPU.
    cpu = []
    for _ in range(args.repeat):
        start = time.process_time()
        page()
        cpu.append((time.process_time() - start) * 1000)
    cpu.sort()
    results.append(("  same, CPU time of the Django process", statistics.median(cpu), cpu[int(0.95 * (len(cpu) - 1))]))
    median, p95, _ = timed(lambda: client.get("/monitoring/", HTTP_HX_REQUEST="true"), repeat=args.repeat)
    results.append(("htmx live refresh (#live fragment)", median, p95))

    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        workflow_overview()
    print(f"\n-- the overview's {len(captured.captured_queries)} queries (plans: scan lines and execution time)")
    seq = []
    for query in captured.captured_queries:
        plan, seq_tables = explain(query["sql"], table_names=(TABLE, "workflow_daily_stats"))
        seq += seq_tables
        print("  " + query["sql"][:110].replace("\n", " ") + " …")
        for ln in plan.splitlines():
            if args.explain or "Scan" in ln or "Execution" in ln:
                print("     " + ln.strip())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE started_at >= now() - interval '7 days'")
        in_week = cursor.fetchone()[0]
    _check_rollup_p95()
    return results, in_week, seq


def _check_rollup_p95():
    """The histogram p95 against PostgreSQL's exact percentile_cont, for the 7-day window of every workflow."""
    from django.db import connection

    from monitoring.stats import workflow_overview

    rows = {r.workflow_name: r.p95_ms for r in workflow_overview()}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT workflow_name, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM {TABLE} "
            "WHERE started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '6 days' "
            "AND duration_ms IS NOT NULL GROUP BY 1"
        )
        errors = [abs(rows[name] - exact) / exact for name, exact in cursor.fetchall() if exact]
    print(f"p95 from the rollup's histogram vs exact percentile_cont: median error {100 * statistics.median(errors):.1f} %, "
          f"max {100 * max(errors):.1f} % over {len(errors)} workflows")


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hits, self.lock = 0, threading.Lock()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        server = cast(_CountingServer, self.server)
        with server.lock:
            server.hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def bench_checks(args):
    from django.utils import timezone

    from monitoring.daemon import Monitor
    from monitoring.models import HealthCheck, SystemHealthCheck

    server = _CountingServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    SystemHealthCheck.objects.all().delete()
    HealthCheck.objects.all().delete()
    now = timezone.now()
    HealthCheck.objects.bulk_create(
        [HealthCheck(check_id=f"bench-{i}", check_name=f"Bench {i}", url=f"{url}?n={i}", due_at=now, timeout_ms=10000)
         for i in range(args.checks)]
    )
    monitor = Monitor(workers=args.workers, batch=200, daily_reports=False)
    start = time.perf_counter()
    done = monitor.run_due_checks()
    elapsed = time.perf_counter() - start
    monitor.close()
    server.shutdown()
    results = SystemHealthCheck.objects.results()
    healthy = results.filter(status="HEALTHY").count()
    latencies = list(results.values_list("response_time_ms", flat=True))
    return {
        "checks": done, "seconds": elapsed, "hits": server.hits, "healthy": healthy, "results": results.count(),
        "next_open": HealthCheck.objects.filter(due_at__gt=now, claimed_by__isnull=True).count(),
        "median_response_ms": statistics.median(latencies) if latencies else None,
        "board_ms": _board_ms(),
    }


def _board_ms():
    from bench.common import timed
    from monitoring.stats import health_board

    median, _, board = timed(health_board, repeat=5, warmup=1)
    assert len(board) > 0
    return median


def run(args):
    from bench.common import machine_line

    print(machine_line())
    load(args)
    results, in_week, seq = bench_overview(args)
    print(f"\n{args.executions:,} runs, {args.workflows} workflows, {in_week:,} in the last 7 days; repeat={args.repeat}")
    print(f"{'measurement':<48} {'median':>10} {'p95':>10}")
    for name, median, p95 in results:
        print(f"{name:<48} {median:>8.1f}ms {p95:>8.1f}ms")
    print("sequential scans on workflow_executions / workflow_daily_stats:", seq or "none")
    if args.checks:
        r = bench_checks(args)
        print(f"\nHealth checks: {r['checks']} due checks in {r['seconds']:.2f} s with {args.workers} threads "
              f"({r['checks'] / r['seconds']:.0f}/s); server answered {r['hits']}; stored {r['results']} results "
              f"({r['healthy']} healthy), {r['next_open']} next occurrences queued; median response {r['median_response_ms']} ms")
        print(f"Health board with {r['next_open']} checks: {r['board_ms']:.1f} ms median")
