"""Live push: API ingest -> server-sent-event message on N open feed streams, on one ASGI node or several.

    python -m bench live_push [--streams 200] [--events 30] [--port 8591] [--idle-seconds 10] [--nodes 1]

Serves the app as the Procfile does (gunicorn, one uvicorn worker) on loopback against the bench database, opens N
feed streams (one asyncio client process, raw HTTP) as a project member, then records events one at a time through
the HTTP API and times, for every (stream, event), from just before the POST to the moment that stream received
the row. Reports p50/p95/max, the server's CPU (from /proc: only its own work) idle with N streams open and while
pushing, and its resident memory per open stream. Bounded: about a minute.

--nodes 2: that many such nodes behind haproxy (scripts/nodes.sh, SERVER=asgi, WORKERS=1) on --port, the nodes on
the ports after it; streams and POSTs both go through haproxy (round robin), so about half of each event's
deliveries cross from the node that recorded it to the other one (haproxy's X-Served-By says which node answered
each stream and each POST; the latencies are split by it). Fan-out: Redis pub/sub when REDIS_URL is set for the
benchmark (the nodes get the same URL), else PostgreSQL LISTEN/NOTIFY.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import children, cpu_seconds, node_pids, nodes


def add_arguments(parser):
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between recorded events")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8591, help="loopback port (haproxy's with --nodes 2)")
    parser.add_argument("--nodes", type=int, default=1, help="web nodes; more than 1: behind haproxy")
    parser.add_argument(
        "--server-log", default=os.path.join(tempfile.gettempdir(), "bench-live-push-server.log")
    )


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _setup():
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from projects.models import ApiKey, Membership, Project, Role

    user, _ = User.objects.get_or_create(username="bench-live-reader")
    project, _ = Project.objects.get_or_create(
        slug="bench-live", defaults={"name": "Bench live", "created_by": user}
    )
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.VIEWER})
    _key, token = ApiKey.objects.create_key(
        project=project, name="bench-live", scope="write", created_by=user
    )
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return project, cookie, token


async def _open_stream(port, path, cookie, arrivals, index, ready, opening, served_by):
    # Pages open at different moments: at most a few opening at once (each open's session and user lookups hold a
    # database connection until the stream starts; 200 at once would exceed PostgreSQL's max_connections).
    async with opening:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                f"Cookie: {cookie}\r\nConnection: keep-alive\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        assert b" 200 " in status, status
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "x-served-by":
                served_by[index] = value.strip()
    ready.release()
    marker = b'id="event-'
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            start = line.find(marker)
            while start != -1:
                end = line.find(b'"', start + len(marker))
                pk = int(line[start + len(marker) : end])
                arrivals.setdefault(pk, {}).setdefault(index, time.perf_counter())
                start = line.find(marker, end)
    finally:
        writer.close()


def _post(port, token, title):
    body = json.dumps({"event_type": "TEST_GENERATION", "title": title, "entity_type": "suite"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/events",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        return started, json.loads(response.read())["id"], response.headers.get("X-Served-By", "node1")


def _database_connections():
    """Connections open on the bench database now (PostgreSQL's max_connections is shared by every node)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0] - 1  # not this one


def _cpu(pids_by_node):
    return {node: sum(cpu_seconds(p) or 0 for p in pids) for node, pids in pids_by_node.items()}


async def _measure(args, port, cookie, token, project, pids_by_node):
    from django.urls import reverse

    path = reverse("events:feed_stream", args=[project.slug])
    arrivals: dict[int, dict[int, float]] = {}
    served_by: dict[int, str] = {}
    every_pid = [p for pids in pids_by_node.values() for p in pids]
    ready = asyncio.Semaphore(0)
    rss_before = sum(_rss_kib(p) for p in every_pid)
    opening = asyncio.Semaphore(10)
    tasks = [
        asyncio.create_task(_open_stream(port, path, cookie, arrivals, i, ready, opening, served_by))
        for i in range(args.streams)
    ]
    for _ in range(args.streams):
        await asyncio.wait_for(ready.acquire(), 60)
    await asyncio.sleep(2)
    rss_after = sum(_rss_kib(p) for p in every_pid)
    connections_idle = await asyncio.to_thread(_database_connections)
    cpu0, wall0 = _cpu(pids_by_node), time.perf_counter()
    await asyncio.sleep(args.idle_seconds)
    idle_cpu = {
        node: (used - cpu0[node]) / (time.perf_counter() - wall0) for node, used in _cpu(pids_by_node).items()
    }

    posted = []
    cpu0, wall0 = _cpu(pids_by_node), time.perf_counter()
    for i in range(args.events):
        posted.append(await asyncio.to_thread(_post, port, token, f"Bench live event {i}"))
        await asyncio.sleep(args.interval)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        len(arrivals.get(pk, {})) < args.streams for _, pk, _ in posted
    ):
        await asyncio.sleep(0.1)
    push_cpu = {
        node: (used - cpu0[node]) / (time.perf_counter() - wall0) for node, used in _cpu(pids_by_node).items()
    }
    connections_pushed = await asyncio.to_thread(_database_connections)
    for task in tasks:
        task.cancel()
    latencies, slowest, missing = [], [], 0
    by_route: dict[str, list[float]] = {"same node": [], "other node": []}
    missing_by_route = {"same node": 0, "other node": 0}
    for started, pk, recorded_on in posted:
        got = arrivals.get(pk, {})
        per_stream = []
        for index in range(args.streams):
            route = "same node" if served_by.get(index, "node1") == recorded_on else "other node"
            if index in got:
                per_stream.append((got[index] - started) * 1000)
                by_route[route].append(per_stream[-1])
            else:
                missing += 1
                missing_by_route[route] += 1
        latencies += per_stream
        if per_stream:
            slowest.append(max(per_stream))
    streams_per_node: dict[str, int] = {}
    for index in range(args.streams):
        streams_per_node[served_by.get(index, "node1")] = (
            streams_per_node.get(served_by.get(index, "node1"), 0) + 1
        )
    return {
        "rss_per_stream_kib": (rss_after - rss_before) / args.streams,
        "idle_cpu": idle_cpu,
        "push_cpu": push_cpu,
        "latencies": sorted(latencies),
        "slowest": sorted(slowest),
        "missing": missing,
        "by_route": {k: sorted(v) for k, v in by_route.items()},
        "missing_by_route": missing_by_route,
        "streams_per_node": streams_per_node,
        "connections": (connections_idle, connections_pushed),
        "posts_per_node": {
            n: sum(1 for *_, on in posted if on == n) for n in sorted({on for *_, on in posted})
        },
    }


def _pct(values, q):
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def _wait_http(port, deadline_seconds=60):
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.3)


def _one_node(args, env, measure):
    with open(args.server_log, "w") as server_log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "activityhub.asgi",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{args.port}",
                "--graceful-timeout",
                "5",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=server_log,
        )
    try:
        _wait_http(args.port)
        return measure(
            {"node1": children(server.pid) or [server.pid]}
        )  # the uvicorn worker(s), not the arbiter
    finally:
        server.terminate()
        server.wait(30)


def _behind_haproxy(args, env, measure):
    run_dir = Path(tempfile.gettempdir()) / f"activityhub-bench-live-nodes-{args.port}"
    env = {
        **env,
        "SERVER": "asgi",
        "WORKERS": "1",
        "NODES": str(args.nodes),
        "LB_PORT": str(args.port),
        "NODE_PORT": str(args.port + 1),
        "RUN_DIR": str(run_dir),
        "REDIS_URL": env.get("REDIS_URL", ""),
        "API_RATE_LIMIT": "100000000/min",
        "CONN_MAX_AGE": env.get("CONN_MAX_AGE", "0"),
        "DATABASE_REPLICA_URL": "",
    }
    nodes("up", env=env)
    try:
        return measure(
            {f"node{n}": pids[1:] or pids for n, pids in node_pids(run_dir).items()}
        )  # workers only
    finally:
        nodes("down", env=env, check=False)


def run(args):
    from django.conf import settings
    from django.db import connection

    project, cookie, token = _setup()
    env = {
        **os.environ,
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "LIVE_DB_THREADS": os.environ.get("LIVE_DB_THREADS", "4"),
    }
    fanout = "Redis pub/sub" if env.get("REDIS_URL") else "PostgreSQL LISTEN/NOTIFY"
    connection.close()
    outcome: dict[str, Any] = {}

    def measure(pids_by_node):
        outcome["load"] = os.getloadavg()
        outcome["started"] = time.strftime("%H:%M:%S", time.gmtime())
        result = asyncio.run(_measure(args, args.port, cookie, token, project, pids_by_node))
        outcome["load_after"] = os.getloadavg()
        return result

    result = (_one_node if args.nodes == 1 else _behind_haproxy)(args, env, measure)
    load, load_after = outcome["load"], outcome["load_after"]
    lat = result["latencies"]
    where = (
        "one uvicorn worker" if args.nodes == 1 else f"{args.nodes} nodes × 1 uvicorn worker behind haproxy"
    )
    print(
        f"live push at {outcome['started']} UTC: {args.streams} streams, {args.events} events, {where}, fan-out "
        f"{fanout}, load average {load[0]:.2f} -> {load_after[0]:.2f}"
    )
    print(
        f"streams per node {result['streams_per_node']}, POSTs per node {result['posts_per_node']}, database "
        f"connections with the streams open {result['connections'][0]}, after pushing {result['connections'][1]}"
    )
    cpu = lambda shares: " / ".join(f"{shares[n] * 100:.1f}" for n in sorted(shares))  # noqa: E731
    print(
        "| streams | events | deliveries | missing | p50 ms | p95 ms | max ms | p95 slowest stream ms | "
        "idle CPU (% core, per node) | CPU while pushing (% core, per node) | RSS per stream KiB | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.streams} | {args.events} | {len(lat)} | {result['missing']} | {statistics.median(lat) if lat else float('nan'):.0f} | "
        f"{_pct(lat, 0.95):.0f} | {lat[-1] if lat else float('nan'):.0f} | {_pct(result['slowest'], 0.95):.0f} | "
        f"{cpu(result['idle_cpu'])} | {cpu(result['push_cpu'])} | {result['rss_per_stream_kib']:.1f} | "
        f"{load[0]:.2f} -> {load_after[0]:.2f} |"
    )
    if args.nodes > 1:
        for route, values in result["by_route"].items():
            print(
                f"  stream on the {route} as the POST: {len(values)} deliveries, missing "
                f"{result['missing_by_route'][route]}, p50 {statistics.median(values) if values else float('nan'):.0f} ms, "
                f"p95 {_pct(values, 0.95):.0f} ms, max {values[-1] if values else float('nan'):.0f} ms"
            )
