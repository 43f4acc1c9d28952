"""HTTP API throughput: gunicorn (2 sync workers) on loopback against PostgreSQL holding 1M events.

    python -m bench api --rows 1000000

Reuses the activity benchmark's loader (bench/activity.py: one INSERT … SELECT generate_series, 1M events over
4 big and 20 small projects; reused when already loaded). Then starts a production-mode gunicorn and measures,
from client threads on the same machine:
  - batch ingest: POST /api/v1/events with 1,000 events per request (each with an Idempotency-Key) → events/s;
  - single events: POST /api/v1/events one event per request → requests/s, median and p95 latency;
  - feed: GET /api/v1/feed?limit=50 one request at a time → median and p95 latency, then reads/s with
    concurrent clients; also the page after a cursor.
Ingested events go to a separate project and are deleted afterwards, so a rerun reuses the 1M events.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored events (default 1,000,000)")
    parser.add_argument("--port", type=int, default=8719)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (>1 uses gunicorn's gthread worker; default 1: sync)"
    )
    parser.add_argument("--batches", type=int, default=60, help="1,000-event batches to ingest")
    parser.add_argument("--singles", type=int, default=4000, help="single-event requests")
    parser.add_argument("--feeds", type=int, default=600, help="sequential feed requests")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads for throughput runs")
    parser.add_argument(
        "--subscriptions", type=int, default=0,
        help="enabled notification subscriptions on the ingest project (each batch then enqueues one delivery task)",
    )


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Server:
    """gunicorn serving activityhub.wsgi as in production (PRODUCTION=1, persistent DB connections)."""

    def __init__(self, port, workers, threads=1):
        self.port, self.workers, self.threads, self.process = port, workers, threads, None

    def __enter__(self):
        env = {
            **os.environ,
            "PRODUCTION": "1",
            # The same secret as this process: key hashes are HMACs keyed by it.
            "SECRET_KEY": os.environ["BENCH_SECRET_KEY"],
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "CONN_MAX_AGE": "600",
            "API_RATE_LIMIT": "100000000/min",  # measuring the server, not the limiter's 429s
            "LOG_LEVEL": "WARNING",
        }
        command = [
            str(ROOT / ".venv/bin/gunicorn"), "activityhub.wsgi", "--workers", str(self.workers),
            "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "--backlog", "2048",
        ]
        if self.threads > 1:
            # Threads overlap one worker's waits on the database (WAL flush at COMMIT) with other requests.
            command += ["--worker-class", "gthread", "--threads", str(self.threads)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _ = request("GET", self.port, "/api/v1/openapi.json")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise SystemExit("gunicorn did not start")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def request(method, port, path, body=None, headers=None):
    """One request on a fresh connection (gunicorn's sync workers close it after each response)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def run_concurrently(jobs, concurrency, send):
    """Run send(job) for every job from `concurrency` threads; return (wall seconds, latencies ms, statuses)."""
    jobs = list(jobs)
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    lock, position = threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                if position[0] >= len(jobs):
                    return
                job = jobs[position[0]]
                position[0] += 1
            start = time.perf_counter()
            status = send(job)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, statuses


def event_body(i, tag):
    return {
        "event_type": "CODE_SCAFFOLDING" if i % 3 else "TEST_GENERATION",
        "title": f"Scaffolded module {tag}-{i}",
        "entity_type": "codegen",
        "entity_id": f"{tag}-{i // 10}",
        "description": "Generated handlers, serializers and tests for the orders endpoints",
        "metadata": {"files": i % 40, "branch": "main", "run": tag},
        "status": "COMPLETED",
        "duration": 100 + i % 5000,
    }


def subscribe(project, count):
    """`count` enabled immediate subscriptions of several shapes on `project` (none sends: no worker runs here)."""
    from notifications.models import Channel, Subscription

    Subscription.objects.filter(project=project).delete()
    shapes: list[dict[str, Any]] = [{"event_status": "FAILED"}, {"event_types": ["CODE_SCAFFOLDING"]}, {"category": "apr"},
              {"text_contains": "bench"}, {"match_actions": True, "action_type": "deployment"}]
    Subscription.objects.bulk_create(
        Subscription(project=project, name=f"bench {i}", channel=Channel.WEBHOOK, target_url="http://127.0.0.1:9/",
                     secret="whsec_bench", **shapes[i % len(shapes)])
        for i in range(count)
    )
    if count:
        print(f"Notification subscriptions on the ingest project: {count} (enabled, immediate)")


def run(args):
    from django.conf import settings
    from django.db import connection

    from bench.activity import load
    from bench.common import explain, machine_line
    from events.models import ActivityEvent
    from projects.models import ApiKey, Project

    _, big, _ = load(args.rows, reload=False)
    stored = ActivityEvent.objects.count()
    reader_project = big[0]
    ingest_project, _ = Project.objects.get_or_create(slug="bench-api-ingest", defaults={"name": "bench-api-ingest"})
    ActivityEvent.objects.filter(project=ingest_project).delete()
    _, read_token = ApiKey.objects.create_key(project=reader_project, name="bench reader", scope="read")
    _, write_token = ApiKey.objects.create_key(project=ingest_project, name="bench writer", scope="write")
    subscribe(ingest_project, args.subscriptions)
    os.environ["BENCH_SECRET_KEY"] = settings.SECRET_KEY
    connection.close()

    print(machine_line())
    print(f"Stored events: {stored:,} (feed reads project {reader_project.slug}: "
          f"{ActivityEvent.objects.filter(project=reader_project).count():,} events)")
    kind = f"gthread workers × {args.threads} threads" if args.threads > 1 else "sync workers"
    print(f"Server: gunicorn, {args.workers} {kind}, 127.0.0.1:{args.port}, PRODUCTION=1, CONN_MAX_AGE=600; "
          f"client: {args.concurrency} threads on the same 2-core machine (shared with other work)")
    write_headers = {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"}
    read_headers = {"Authorization": f"Bearer {read_token}"}
    results = {}

    print("Load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    with Server(args.port, args.workers, args.threads) as server:
        port = server.port
        # Warm both workers (imports, connections, caches) before timing anything.
        for i in range(20):
            request("POST", port, "/api/v1/events", json.dumps(event_body(i, "warm")), write_headers)
            request("GET", port, "/api/v1/feed?limit=50", headers=read_headers)

        # --- batch ingest ---
        bodies = [
            json.dumps({"events": [event_body(i, f"b{b}") for i in range(1000)]}).encode() for b in range(args.batches)
        ]

        def send_batch(b):
            headers = {**write_headers, "Idempotency-Key": f"bench-batch-{uuid.uuid4()}"}
            return request("POST", port, "/api/v1/events", bodies[b], headers)[0]

        wall, latencies, statuses = run_concurrently(range(args.batches), args.concurrency, send_batch)
        results["batch"] = (args.batches * 1000 / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)

        # --- single events ---
        singles = [json.dumps(event_body(i, "s")).encode() for i in range(args.singles)]

        def send_single(i):
            return request("POST", port, "/api/v1/events", singles[i], write_headers)[0]

        wall, latencies, statuses = run_concurrently(range(args.singles), args.concurrency, send_single)
        results["single"] = (args.singles / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)

        # --- feed, one request at a time (latency) ---
        path = "/api/v1/feed?" + urlencode({"limit": 50})
        wall, latencies, statuses = run_concurrently(
            range(args.feeds), 1, lambda _: request("GET", port, path, headers=read_headers)[0]
        )
        results["feed_seq"] = (args.feeds / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)
        cursor = json.loads(request("GET", port, path, headers=read_headers)[1])["next_cursor"]
        path2 = "/api/v1/feed?" + urlencode({"limit": 50, "cursor": cursor})
        wall, latencies, statuses = run_concurrently(
            range(args.feeds // 2), 1, lambda _: request("GET", port, path2, headers=read_headers)[0]
        )
        results["feed_cursor"] = (args.feeds // 2 / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)
        path3 = "/api/v1/feed?" + urlencode({"limit": 50, "type": "TEST_GENERATION"})
        wall, latencies, statuses = run_concurrently(
            range(args.feeds // 2), 1, lambda _: request("GET", port, path3, headers=read_headers)[0]
        )
        results["feed_rare"] = (args.feeds // 2 / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)
        # --- feed throughput ---
        wall, latencies, statuses = run_concurrently(
            range(args.feeds * 2), args.concurrency, lambda _: request("GET", port, path, headers=read_headers)[0]
        )
        results["feed_par"] = (args.feeds * 2 / wall, statistics.median(latencies), percentile(latencies, 0.95), statuses)

    print("Load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
          + " — other developers' test runs shared the 2 cores")
    ingested = ActivityEvent.objects.filter(project=ingest_project).count()
    expected = args.batches * 1000 + args.singles + 20
    print(f"\nStored by the run: {ingested:,} events (expected {expected:,}: nothing lost or duplicated: "
          f"{'yes' if ingested == expected else 'NO'})")
    rows = [
        ("batch ingest, 1,000 events/request", "batch", "events/s", 20_000),
        ("single event per request", "single", "requests/s", 500),
        ("feed ?limit=50, sequential", "feed_seq", "reads/s", None),
        ("feed ?limit=50&cursor=… (page 2), sequential", "feed_cursor", "reads/s", None),
        ("feed ?limit=50&type=TEST_GENERATION (0.1%), sequential", "feed_rare", "reads/s", None),
        (f"feed ?limit=50, {args.concurrency} clients", "feed_par", "reads/s", None),
    ]
    print("\n| measurement | throughput | median ms | p95 ms | statuses |\n|---|---|---|---|---|")
    for label, key, unit, _ in rows:
        rate, median, p95, statuses = results[key]
        print(f"| {label} | {rate:,.0f} {unit} | {median:.1f} | {p95:.1f} | {statuses} |")

    from events.pagination import paginate_keyset  # noqa: F401  (the feed's query, for EXPLAIN)

    feed_qs = ActivityEvent.objects.for_project(reader_project).order_by("-created_at", "-id")[:51]
    plan, seq = explain(feed_qs, table_names=["events_activityevent"])
    print("\nEXPLAIN of the feed's first page:" + (" SEQUENTIAL SCAN of events!" if seq else " (index scan, no seq scan)"))
    print(plan)
    if args.subscriptions:
        from django_tasks_db.models import DBTaskResult

        enqueued = DBTaskResult.objects.filter(task_path="notifications.sending.deliver_batch")
        print(f"Delivery tasks enqueued by the run: {enqueued.count():,} (one per request)")
        enqueued.delete()
        subscribe(ingest_project, 0)
    ActivityEvent.objects.filter(project=ingest_project).delete()
    ApiKey.objects.filter(name__startswith="bench ").delete()
    sys.stdout.flush()
