"""Past one machine: a read replica, and two web nodes behind haproxy, measured on loopback (PostgreSQL).

    scripts/replica.sh up        # as root: the streaming replica on 127.0.0.1:5433 (else the replica part is skipped)
    python -m bench scale --rows 1000000

Reuses the activity benchmark's loader (bench/activity.py; the events are reused when already loaded).
1. Replica: one gunicorn node (2 sync workers) serving GET /api/v1/feed?limit=50 to concurrent clients, reading
   the primary only, then with DATABASE_REPLICA_URL (the feed is lag-tolerant: its reads go to the replica; the
   replica's own pg_stat_database counts the transactions it served). Then batch ingest through that node while
   a sampler reads the replica's lag every 50 ms (bytes of WAL not yet replayed, and seconds: the age of the
   newest primary WAL position the replica has replayed) and the time to catch up once ingest stops.
2. Nodes (scripts/nodes.sh): haproxy → 1 node, then haproxy → 2 nodes (2 workers each), sharing PostgreSQL and
   Redis: batch ingest events/s and feed p95 under concurrent clients, with the CPU use of the whole machine.
3. A node killed mid-ingest: clients send batches with an Idempotency-Key each and retry on any failure with the
   same key; node 2 gets SIGKILL a third of the way in. Stored events are counted: lost and duplicated must be 0.
Everything is bounded in count; ingested events go to a separate project and are deleted afterwards.
4. Partitions (bench/partitioning.py): the same events plain vs partitioned by month, and retention by dropping
   a month's partition vs the batched DELETE it replaces (--month-rows, default 1,000,000).
"""

import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.common import cpu_seconds, node_pids, nodes, tree

LB_PORT, NODE_PORT, SOLO_PORT = 8700, 8701, 8709


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored events (default 1,000,000)")
    parser.add_argument("--replica-url", default="", help="default: the bench database on 127.0.0.1:5433")
    parser.add_argument("--feeds", type=int, default=800, help="feed requests per throughput run")
    parser.add_argument("--batches", type=int, default=30, help="1,000-event batches per ingest run")
    parser.add_argument("--kill-batches", type=int, default=120, help="100-event batches in the node-kill run")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--skip-replica", action="store_true")
    parser.add_argument("--skip-nodes", action="store_true")
    from bench.partitioning import add_partition_arguments

    add_partition_arguments(parser)


# Which processes are ours, by group, for the CPU split: set by the part that starts them.
WATCH: dict = {"pids": lambda: {}}


def _pgrep(pattern):
    out = subprocess.run(["pgrep", "-u", "postgres", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def postgres_pids(dbname):
    """The primary's backends on the benchmark database (and its WAL sender); every process of the replica."""
    return {
        "postgres primary": _pgrep(rf"postgres: [0-9]+/main: ([^ ]+ {dbname} |walsender)"),
        "postgres replica": _pgrep(r"postgres: [0-9]+/replica: "),
    }


class CpuMeter:
    """The machine's busy share (/proc/stat: shared with other work) and the CPU seconds of our process groups."""

    @staticmethod
    def _read():
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    def _groups(self):
        found = {}
        for group, pids in WATCH["pids"]().items():
            found[group] = {pid: cpu_seconds(pid) for pid in pids}
        found["client"] = {"self": sum(os.times()[:2])}
        return found

    def __enter__(self):
        self.total, self.idle = self._read()
        self.load = os.getloadavg()[0]
        self.start_groups, self.started = self._groups(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        total, idle = self._read()
        self.busy = 1 - (idle - self.idle) / max(1, total - self.total)
        self.load_end = os.getloadavg()[0]
        wall = time.perf_counter() - self.started
        self.split = {}
        for group, now in self._groups().items():
            before = self.start_groups.get(group, {})
            used = sum((v or 0) - (before.get(pid) or 0) for pid, v in now.items() if v is not None)
            self.split[group] = used / wall  # cores' worth
        return False

    def __str__(self):
        split = ", ".join(f"{g} {c:.2f}" for g, c in self.split.items())
        return f"machine {self.busy:.0%} busy, load {self.load:.1f}→{self.load_end:.1f}; cores used: {split}"


def _scalar(conn, sql, params=()):
    """The first column of the one row `sql` returns."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql}")
    return row[0]


def _replica_stats(replica_url, dbname):
    import psycopg

    with psycopg.connect(replica_url, autocommit=True) as conn:
        return _scalar(conn, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [dbname])


def _lag_sampler(primary_url, replica_url, stop, samples):
    """Every 50 ms: the primary's WAL position, then how far the replica has replayed. The lag in seconds is
    the age of the newest primary position the replica has reached (exact to the sampling interval)."""
    import psycopg

    history = []  # (time, primary position in bytes)
    with psycopg.connect(primary_url, autocommit=True) as primary, psycopg.connect(replica_url, autocommit=True) as replica:
        while not stop.is_set():
            lsn = _scalar(primary, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            history.append((time.monotonic(), lsn))
            replayed = _scalar(replica, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint")
            now = time.monotonic()
            reached = [t for t, position in history if position <= replayed]
            lag = now - reached[-1] if reached else now - history[0][0]
            samples.append((now, max(0, lsn - replayed), 0.0 if replayed >= lsn else lag))
            time.sleep(0.05)


def _wait_caught_up(primary_url, replica_url, timeout=120):
    import psycopg

    start = time.monotonic()
    with psycopg.connect(primary_url, autocommit=True) as primary, psycopg.connect(replica_url, autocommit=True) as replica:
        lsn = _scalar(primary, "SELECT pg_current_wal_lsn()::text")
        while time.monotonic() - start < timeout:
            if _scalar(replica, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", [lsn]):
                return time.monotonic() - start
            time.sleep(0.02)
    return None


def _feed_run(port, headers, count, concurrency):
    from bench.api import percentile, request, run_concurrently

    with CpuMeter() as cpu:
        wall, latencies, statuses = run_concurrently(
            range(count), concurrency, lambda _: request("GET", port, "/api/v1/feed?limit=50", headers=headers)[0]
        )
    return {"rate": count / wall, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "statuses": statuses, "cpu": cpu}


def _ingest_run(port, headers, batches, concurrency, tag, size=1000):
    from bench.api import event_body, percentile, request, run_concurrently

    bodies = [json.dumps({"events": [event_body(i, f"{tag}{b}") for i in range(size)]}).encode() for b in range(batches)]

    def send(b):
        return request("POST", port, "/api/v1/events", bodies[b], {**headers, "Idempotency-Key": f"{tag}-{b}-{uuid.uuid4()}"})[0]

    with CpuMeter() as cpu:
        wall, latencies, statuses = run_concurrently(range(batches), concurrency, send)
    return {"rate": batches * size / wall, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "statuses": statuses, "cpu": cpu, "wall": wall}


def run(args):
    from django.conf import settings
    from django.db import connection

    from bench.activity import load
    from bench.api import Server, request
    from bench.common import machine_line
    from events.models import ActivityEvent
    from projects.models import ApiKey, Project

    _, big, _ = load(args.rows, reload=False)
    stored = ActivityEvent.objects.count()
    reader_project = big[0]
    ingest_project, _ = Project.objects.get_or_create(slug="bench-scale-ingest", defaults={"name": "bench-scale-ingest"})
    ActivityEvent.objects.filter(project=ingest_project).delete()
    _, read_token = ApiKey.objects.create_key(project=reader_project, name="bench scale reader", scope="read")
    _, write_token = ApiKey.objects.create_key(project=ingest_project, name="bench scale writer", scope="write")
    os.environ["BENCH_SECRET_KEY"] = settings.SECRET_KEY
    primary_url = os.environ["DATABASE_URL"]
    dbname = urlparse(primary_url).path.lstrip("/")
    replica_url = args.replica_url or f"postgres://postgres@127.0.0.1:5433/{dbname}"
    read_headers = {"Authorization": f"Bearer {read_token}"}
    write_headers = {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"}
    connection.close()

    print(machine_line())
    print(f"Stored events: {stored:,} (feed reads project {reader_project.slug}: "
          f"{ActivityEvent.objects.filter(project=reader_project).count():,} events); client: {args.concurrency} "
          "threads on the same machine")
    print("uptime at the start:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())

    if not args.skip_replica:
        _replica_part(args, primary_url, replica_url, dbname, read_headers, write_headers, Server, request)
    if not args.skip_nodes:
        _nodes_part(args, read_headers, write_headers, ingest_project, dbname)
    if not args.skip_partitions:
        from bench.partitioning import measure

        ActivityEvent.objects.filter(project=ingest_project).delete()
        measure(args)

    print("\nuptime at the end:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    ActivityEvent.objects.filter(project=ingest_project).delete()
    ApiKey.objects.filter(name__startswith="bench scale ").delete()


def _replica_part(args, primary_url, replica_url, dbname, read_headers, write_headers, Server, request):
    try:
        _replica_stats(replica_url, dbname)
    except Exception as exc:  # any failure means: no replica to measure
        print(f"\n## Replica: skipped ({str(exc).strip().splitlines()[0]}); run `scripts/replica.sh up` first")
        return
    caught = _wait_caught_up(primary_url, replica_url)
    print(f"\n## Replica (streaming standby at {urlparse(replica_url).netloc}; caught up: {caught is not None})")
    results = {}
    for label, replica in (("primary only", ""), ("primary + replica", replica_url)):
        os.environ["DATABASE_REPLICA_URL"] = replica
        os.environ["REPLICA_CHECK_SECONDS"] = "1"
        with Server(SOLO_PORT, 2) as server:
            WATCH["pids"] = lambda server=server: {"gunicorn": tree(server.process.pid), **postgres_pids(dbname)}
            for _ in range(20):
                request("GET", server.port, "/api/v1/feed?limit=50", headers=read_headers)
            time.sleep(5.5)  # past the read-your-writes window of the read key's once-a-minute last-use write
            before = _replica_stats(replica_url, dbname)
            results[label] = _feed_run(server.port, read_headers, args.feeds, args.concurrency)
            results[label]["replica_xacts"] = _replica_stats(replica_url, dbname) - before
            if replica:
                stop = threading.Event()
                samples: list[tuple[float, int, float]] = []  # (monotonic time, WAL bytes behind, seconds behind)
                sampler = threading.Thread(target=_lag_sampler, args=(primary_url, replica_url, stop, samples))
                sampler.start()
                ingest = _ingest_run(server.port, write_headers, args.batches, args.concurrency, "lag")
                ended = time.monotonic()
                catch_up = _wait_caught_up(primary_url, replica_url)
                stop.set()
                sampler.join()
                during = [s for s in samples if s[0] <= ended]
    os.environ.pop("DATABASE_REPLICA_URL", None)
    print("\n| feed ?limit=50, 1 node × 2 workers | reads/s | p50 ms | p95 ms | transactions served by the replica | CPU | statuses |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['replica_xacts']:,} | {r['cpu']} | {r['statuses']} |")
    ratio = results["primary + replica"]["rate"] / results["primary only"]["rate"]
    print(f"\nprimary + replica / primary only: {ratio:.2f}×")
    if during:
        bytes_sorted = sorted(s[1] for s in during)
        secs_sorted = sorted(s[2] for s in during)
        p = lambda xs, f: xs[min(len(xs) - 1, int(round(f * (len(xs) - 1))))]  # noqa: E731
        print(f"Lag under batch ingest ({args.batches} × 1,000 events at {ingest['rate']:,.0f} events/s, "
              f"{ingest['wall']:.1f}s, {len(during)} samples every 50 ms): WAL not yet replayed median "
              f"{p(bytes_sorted, 0.5) / 1024:,.0f} KiB, p95 {p(bytes_sorted, 0.95) / 1024:,.0f} KiB, max "
              f"{bytes_sorted[-1] / 1024:,.0f} KiB; lag median {p(secs_sorted, 0.5):.2f}s, p95 {p(secs_sorted, 0.95):.2f}s, "
              f"max {secs_sorted[-1]:.2f}s; over the 5 s limit in {sum(s > 5 for s in secs_sorted)} samples; "
              f"caught up {catch_up:.2f}s after the last batch; {ingest['cpu']}")


def _nodes_part(args, read_headers, write_headers, ingest_project, dbname):
    from bench.api import request
    from events.models import ActivityEvent

    env = {**os.environ, "SECRET_KEY": os.environ["BENCH_SECRET_KEY"], "API_RATE_LIMIT": "100000000/min",
           "REDIS_URL": "redis://127.0.0.1:6379/14", "DATABASE_REPLICA_URL": "", "CONN_MAX_AGE": "600",
           "LB_PORT": str(LB_PORT), "NODE_PORT": str(NODE_PORT), "RUN_DIR": str(Path(tempfile.gettempdir()) / "activityhub-bench-nodes")}
    print("\n## Web nodes behind haproxy (scripts/nodes.sh; Redis shared; 2 sync workers per node)")
    run_dir = Path(env["RUN_DIR"])

    def watched_pids():
        gunicorn = [p for pids in node_pids(run_dir).values() for p in pids]
        haproxy = [int((run_dir / "haproxy.pid").read_text())] if (run_dir / "haproxy.pid").exists() else []
        return {"gunicorn": gunicorn, "haproxy": haproxy, **postgres_pids(dbname)}

    WATCH["pids"] = watched_pids
    results = {}
    try:
        for count in (1, 2):
            nodes("up", env={**env, "NODES": str(count)})
            for _ in range(20):
                request("GET", LB_PORT, "/api/v1/feed?limit=50", headers=read_headers)
            time.sleep(5.5)  # past the read-your-writes window of the read key's once-a-minute last-use write
            ingest = _ingest_run(LB_PORT, write_headers, args.batches, args.concurrency, f"n{count}")
            feed = _feed_run(LB_PORT, read_headers, args.feeds, args.concurrency)
            results[count] = (ingest, feed)
            nodes("down", env=env)
        print("\n| haproxy → | batch ingest events/s | batch p95 ms | ingest CPU | feed reads/s | feed p50 ms | feed p95 ms | feed CPU |")
        print("|---|---|---|---|---|---|---|---|")
        for count, (ingest, feed) in results.items():
            print(f"| {count} node(s) × 2 workers | {ingest['rate']:,.0f} | {ingest['p95']:.0f} | {ingest['cpu']} | "
                  f"{feed['rate']:,.0f} | {feed['p50']:.1f} | {feed['p95']:.1f} | {feed['cpu']} |")
        print(f"\n2 nodes / 1 node: ingest {results[2][0]['rate'] / results[1][0]['rate']:.2f}×, "
              f"feed {results[2][1]['rate'] / results[1][1]['rate']:.2f}×")

        # --- a node killed mid-ingest ---
        ActivityEvent.objects.filter(project=ingest_project).delete()
        nodes("up", env={**env, "NODES": "2"})
        size, total = 100, args.kill_batches
        bodies = [json.dumps({"events": [{"event_type": "CODE_SCAFFOLDING", "title": f"kill-run {b}-{i}",
                                          "entity_type": "codegen", "entity_id": f"k{b}", "status": "COMPLETED"}
                                         for i in range(size)]}).encode() for b in range(total)]
        keys = [f"kill-run-{uuid.uuid4()}" for _ in range(total)]
        tally: dict[str, Any] = {"attempts": 0, "retries": 0, "replayed": 0, "failures": {}, "gave_up": 0}
        lock, position, done = threading.Lock(), [0], [0]
        killed = threading.Event()

        def client():
            while True:
                with lock:
                    if position[0] >= total:
                        return
                    b = position[0]
                    position[0] += 1
                for attempt in range(20):
                    with lock:
                        tally["attempts"] += 1
                        tally["retries"] += attempt > 0
                    try:
                        status, _, response = request("POST", LB_PORT, "/api/v1/events", bodies[b],
                                                      {**write_headers, "Idempotency-Key": keys[b]})
                    except OSError as exc:
                        status, response = type(exc).__name__, None
                    if status == 201:
                        with lock:
                            tally["replayed"] += response.getheader("Idempotent-Replayed") == "true"
                            done[0] += 1
                        break
                    with lock:
                        tally["failures"][status] = tally["failures"].get(status, 0) + 1
                    time.sleep(0.1 * (attempt + 1))
                else:
                    with lock:
                        tally["gave_up"] += 1
                if not killed.is_set() and done[0] >= total // 3:
                    killed.set()
                    nodes("kill", "2", env=env)

        threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rows = ActivityEvent.objects.filter(project=ingest_project, title__startswith="kill-run ")
        stored = rows.count()
        distinct = rows.values("title").distinct().count()
        sent = total * size
        print(f"\nNode 2 killed (SIGKILL, master and workers) after {total // 3} of {total} batches × {size} events, "
              f"{args.concurrency} clients retrying with the same Idempotency-Key: {wall:.1f}s; {tally['attempts']} "
              f"requests, {tally['retries']} retries, failures seen {tally['failures']}, {tally['replayed']} answered "
              f"from a stored response, {tally['gave_up']} batches given up.")
        print(f"Events sent {sent:,}, stored {stored:,}, distinct {distinct:,}: lost {sent - distinct}, "
              f"duplicated {stored - distinct}")
    finally:
        nodes("down", env=env, check=False)
