"""Live push: API ingest -> server-sent-event message on N open feed streams, on one ASGI node.

    python -m bench live_push [--streams 200] [--events 30] [--port 8591] [--idle-seconds 10]

Serves the app as the Procfile does (gunicorn, one uvicorn worker) on loopback against the bench database, opens N
feed streams (one asyncio client process, raw HTTP) as a project member, then records events one at a time through
the HTTP API and times, for every (stream, event), from just before the POST to the moment that stream received
the row. Reports p50/p95/max, the server's CPU (from /proc: only its own work) idle with N streams open and while
pushing, and its resident memory per open stream. Bounded: about a minute.
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

from bench.common import cpu_seconds


def add_arguments(parser):
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between recorded events")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8591, help="loopback port")
    parser.add_argument("--server-log", default=os.path.join(tempfile.gettempdir(), "bench-live-push-server.log"))


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _setup():
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from projects.models import ApiKey, Membership, Project, Role

    user, _ = User.objects.get_or_create(username="bench-live-reader")
    project, _ = Project.objects.get_or_create(slug="bench-live", defaults={"name": "Bench live", "created_by": user})
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.VIEWER})
    _key, token = ApiKey.objects.create_key(project=project, name="bench-live", scope="write", created_by=user)
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return project, cookie, token


async def _open_stream(port, path, cookie, arrivals, index, ready, opening):
    # Pages open at different moments: at most a few opening at once (each open's session and user lookups hold a
    # database connection until the stream starts; 200 at once would exceed PostgreSQL's max_connections).
    async with opening:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                      f"Cookie: {cookie}\r\nConnection: keep-alive\r\n\r\n").encode())
        await writer.drain()
        status = await reader.readline()
        assert b" 200 " in status, status
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
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
                pk = int(line[start + len(marker):end])
                arrivals.setdefault(pk, {}).setdefault(index, time.perf_counter())
                start = line.find(marker, end)
    finally:
        writer.close()


def _post(port, token, title):
    body = json.dumps({"event_type": "TEST_GENERATION", "title": title, "entity_type": "suite"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/events", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        return started, json.loads(response.read())["id"]


async def _measure(args, port, cookie, token, project, server_pids):
    from django.urls import reverse

    path = reverse("events:feed_stream", args=[project.slug])
    arrivals: dict[int, dict[int, float]] = {}
    ready = asyncio.Semaphore(0)
    rss_before = sum(_rss_kib(p) for p in server_pids)
    opening = asyncio.Semaphore(10)
    tasks = [asyncio.create_task(_open_stream(port, path, cookie, arrivals, i, ready, opening)) for i in range(args.streams)]
    for _ in range(args.streams):
        await asyncio.wait_for(ready.acquire(), 60)
    await asyncio.sleep(2)
    rss_after = sum(_rss_kib(p) for p in server_pids)
    cpu0 = sum(cpu_seconds(p) or 0 for p in server_pids)
    await asyncio.sleep(args.idle_seconds)
    idle_cpu = (sum(cpu_seconds(p) or 0 for p in server_pids) - cpu0) / args.idle_seconds

    posted = []
    cpu0, wall0 = sum(cpu_seconds(p) or 0 for p in server_pids), time.perf_counter()
    for i in range(args.events):
        posted.append(await asyncio.to_thread(_post, port, token, f"Bench live event {i}"))
        await asyncio.sleep(args.interval)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(len(arrivals.get(pk, {})) < args.streams for _, pk in posted):
        await asyncio.sleep(0.1)
    push_cpu = (sum(cpu_seconds(p) or 0 for p in server_pids) - cpu0) / (time.perf_counter() - wall0)
    for task in tasks:
        task.cancel()
    latencies, slowest, missing = [], [], 0
    for started, pk in posted:
        got = arrivals.get(pk, {})
        missing += args.streams - len(got)
        per_stream = [(at - started) * 1000 for at in got.values()]
        latencies += per_stream
        if per_stream:
            slowest.append(max(per_stream))
    return {
        "rss_per_stream_kib": (rss_after - rss_before) / args.streams,
        "rss_before_mib": rss_before / 1024, "rss_after_mib": rss_after / 1024,
        "idle_cpu": idle_cpu, "push_cpu": push_cpu, "latencies": sorted(latencies), "slowest": sorted(slowest),
        "missing": missing,
    }


def _pct(values, q):
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def run(args):
    project, cookie, token = _setup()
    env = {**os.environ, "DEBUG": "0", "PYTHONUNBUFFERED": "1", "LIVE_DB_THREADS": os.environ.get("LIVE_DB_THREADS", "4")}
    env.pop("REDIS_URL", None)
    with open(args.server_log, "w") as server_log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "activityhub.asgi", "-k",
                                   "uvicorn_worker.UvicornWorker", "--workers", "1", "--bind", f"127.0.0.1:{args.port}",
                                   "--graceful-timeout", "5"], env=env, stdout=subprocess.DEVNULL, stderr=server_log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        pids = _children(server.pid) or [server.pid]  # the uvicorn worker(s), not the arbiter
        load = os.getloadavg()
        result = asyncio.run(_measure(args, args.port, cookie, token, project, pids))
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(30)
    lat = result["latencies"]
    print(f"live push: {args.streams} streams, {args.events} events, one uvicorn worker, "
          f"load average {load[0]:.2f} -> {load_after[0]:.2f}")
    print("| streams | events | deliveries | missing | p50 ms | p95 ms | max ms | p95 slowest stream ms | "
          "idle CPU (% core) | CPU while pushing (% core) | RSS per stream KiB | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.streams} | {args.events} | {len(lat)} | {result['missing']} | {statistics.median(lat) if lat else float('nan'):.0f} | "
          f"{_pct(lat, 0.95):.0f} | {lat[-1] if lat else float('nan'):.0f} | {_pct(result['slowest'], 0.95):.0f} | "
          f"{result['idle_cpu'] * 100:.1f} | {result['push_cpu'] * 100:.1f} | {result['rss_per_stream_kib']:.1f} | "
          f"{load[0]:.2f} -> {load_after[0]:.2f} |")
