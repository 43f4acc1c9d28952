"""Live dashboards: what 50 open dashboards cost the server, "changed since?" poll every second versus a
server-sent-events stream (bench-only endpoint, bench/_live_stream.py) versus the old full live-block refresh
every 15 seconds.

    python -m bench live [--dashboards 50] [--seconds 20] [--port 8590]

Serves the app with `manage.py runserver --noreload` (threaded) on loopback in a child process, signs one manager
in, then opens N simulated dashboards (threads) for a bounded time. Reports requests, latency, the server
process's CPU seconds (from /proc, so the client threads' own work is not counted) and database queries per second
(queries per request counted in-process with the test client, times the request rate).
"""

import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from bench.common import cpu_seconds


def add_arguments(parser):
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20, help="how long each way is measured")
    parser.add_argument("--port", type=int, default=8590, help="loopback port (h15's range is 85xx)")




def _session_cookie():
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get_or_create(name="managers")[0])
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _hammer(base, cookie, path_for, interval, seconds, dashboards):
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def dashboard(i):
        time.sleep(interval * i / dashboards)  # dashboards opened at different moments
        while time.monotonic() < stop:
            started = time.monotonic()
            request = urllib.request.Request(base + path_for(), headers={"Cookie": cookie, "HX-Request": "true"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    status = response.status
            except Exception as exc:  # a refused or failed request is counted, never fatal
                status = type(exc).__name__
            with lock:
                latencies.append((time.monotonic() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    threads = [threading.Thread(target=dashboard, args=(i,)) for i in range(dashboards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def _streams(base, cookie, seconds, dashboards):
    """N dashboards each holding one event stream open for `seconds`; returns the events and comments received."""
    received = {"events": 0, "comments": 0, "errors": 0}
    lock = threading.Lock()

    def dashboard():
        request = urllib.request.Request(f"{base}/bench/live-stream/?seconds={seconds}", headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(request, timeout=seconds + 30) as response:
                for line in response:
                    with lock:
                        if line.startswith(b"event:"):
                            received["events"] += 1
                        elif line.startswith(b":"):
                            received["comments"] += 1
        except Exception:  # a refused or failed stream is counted, never fatal
            with lock:
                received["errors"] += 1

    threads = [threading.Thread(target=dashboard) for _ in range(dashboards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return received


def _queries_per_request(cookie_user, path):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(cookie_user)
    client.get(path, HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as queries:
        client.get(path, HTTP_HX_REQUEST="true")
    return len(queries)


def run(args):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from monitoring.models import WorkflowExecution
    from monitoring.stats import change_token

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench._live_settings", "DEBUG": "0",
           "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{args.port}"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):  # up to a minute: runserver starts slowly on a loaded machine
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except urllib.error.HTTPError:
                break  # it answers (a 503 health verdict is still an answer)
            except Exception:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not answer /healthz within a minute")
        cookie = _session_cookie()
        token = change_token()
        rows = WorkflowExecution.objects.count()
        ways = [
            ("changed-since poll every 1 s", lambda: f"/monitoring/changes/?since={token}", 1.0),
            ("full live block every 15 s", lambda: "/monitoring/", 15.0),
        ]
        manager = User.objects.get(username="bench-manager")
        print("Load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
        print(f"{args.dashboards} dashboards for {args.seconds} s each way, {rows:,} runs in the database "
              "(nothing changes meanwhile: the idle cost of keeping dashboards live)")
        print("| way | requests | per second | median latency | p95 latency | server CPU s | CPU % of one core | "
              "CPU per dashboard-minute | queries/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, path_for, interval in ways:
            per_request = _queries_per_request(manager, path_for())
            cpu_before = cpu_seconds(server.pid)
            latencies, statuses = _hammer(base, cookie, path_for, interval, args.seconds, args.dashboards)
            cpu = cpu_seconds(server.pid) - cpu_before
            latencies.sort()
            p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0
            per_minute = cpu / args.dashboards / (args.seconds / 60)
            rate = len(latencies) / args.seconds
            print(f"| {label} | {len(latencies)} {statuses} | {rate:.1f} | "
                  f"{statistics.median(latencies):.1f} ms | {p95:.1f} ms | {cpu:.2f} | {100 * cpu / args.seconds:.1f} % | "
                  f"{per_minute * 1000:.0f} ms | {rate * per_request:.0f} ({per_request} per request) |")
        with CaptureQueriesContext(connection) as captured:
            change_token()
        token_queries = len(captured)  # counted now: the next request's request_started resets the query log
        setup = _queries_per_request(manager, "/monitoring/changes/?since=x") - token_queries
        cpu_before = cpu_seconds(server.pid)
        received = _streams(base, cookie, args.seconds, args.dashboards)
        cpu = cpu_seconds(server.pid) - cpu_before
        per_minute = cpu / args.dashboards / (args.seconds / 60)
        queries = token_queries + setup * args.dashboards / args.seconds  # one broadcaster + each stream's sign-in
        print(f"| server-sent events, one broadcaster | {args.dashboards} streams, {received} | — | — | — | {cpu:.2f} | "
              f"{100 * cpu / args.seconds:.1f} % | {per_minute * 1000:.0f} ms | {queries:.0f} "
              f"({token_queries} a second + {setup} per stream opened) |")
        print("Load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    finally:
        server.terminate()
        server.wait(timeout=10)
