"""Anomaly detection: precision and recall per kind on synthetic histories, and the cost of one detection pass.

    python -m bench anomalies [--workflows 100] [--runs 100000] [--rounds 3] [--seed 1]

Each workflow runs about hourly for the weeks up to "now", with daily and weekly seasonality in its duration,
log-normal noise and its own failure rate; one in twenty is a busy one with no schedule instead (about 40 runs an
hour by day, 20 by night, fewer at weekends, Poisson-like noise, six days of history). Each round injects, at
"now": a slow or fast last run into a quarter of the workflows (duration), a day of frequent failures into another
quarter (failure rate) and a day with a fifth or three times the usual runs into a third quarter (volume); the
rest stay clean. One detection pass must find exactly the injected ones; then a day of normal runs must clear each
once.
"""

import gc
import math
import random
import statistics
import time
from datetime import timedelta

KINDS = ["duration", "failure_rate", "volume"]
BUSY_DAYS = 6


def add_arguments(parser):
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--runs", type=int, default=100_000, help="runs in all, spread over the workflows")
    parser.add_argument("--rounds", type=int, default=3, help="fresh histories and injections, each with its own seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="timed detection passes per round")


def _duration(base_ms, at, rng):
    daily = 1.25 if 8 <= at.hour < 20 else 1.0  # busier by day
    weekly = 0.85 if at.weekday() >= 5 else 1.0  # lighter at weekends
    return max(200, int(base_ms * daily * weekly * math.exp(rng.gauss(0, 0.06))))


def _busy_count(at, rng):
    """Runs a busy workflow starts in the hour from `at`: 40 by day, 20 by night, a fifth fewer at weekends."""
    usual = (40 if 8 <= at.hour < 20 else 20) * (0.8 if at.weekday() >= 5 else 1.0)
    return max(0, round(rng.gauss(usual, math.sqrt(usual))))


def _volume_factor(injected, name, at, now):
    """How many times the usual runs a workflow starts at `at`: a fifth or thrice in its injected day, else once."""
    if injected.get(name) != "volume" or now - at >= timedelta(hours=24):
        return 1.0
    return 0.2 if int(name[3:]) % 2 else 3.0


def _moments(name, busy, start, end, rng, injected, now):
    """Start times of a workflow's runs in [start, end)."""
    moments = []
    if busy:
        hour = start.replace(minute=0, second=0, microsecond=0)
        while hour < end:
            count = _busy_count(hour, rng)
            count = round(count * _volume_factor(injected, name, hour, now))
            moments += [hour + timedelta(seconds=rng.uniform(0, 3600)) for _ in range(count)]
            hour += timedelta(hours=1)
        return sorted(m for m in moments if start <= m < end)
    step = timedelta(minutes=60 + rng.randint(-5, 5))
    at = end - step
    while at >= start:
        moment = at + timedelta(seconds=rng.randint(0, 120))
        factor = _volume_factor(injected, name, moment, now)
        if factor >= 1 or rng.random() < factor:
            moments.append(moment)
        if factor > 1:  # the extra runs of the spike: two more each hour
            moments += [moment + timedelta(minutes=20), moment + timedelta(minutes=40)]
        at -= step
    return sorted(m for m in moments if m < end)


def generate(args, project, now, rng):
    """Bulk-load the histories; returns ({workflow: kind or None}, per-workflow profile)."""
    from django.db import connection

    from monitoring.models import WorkflowExecution
    from monitoring.rollup import rebuild_in_database

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE workflow_executions, workflow_daily_stats, workflow_anomalies, notification_logs, "
                       "monitoring_report_runs, monitoring_reports RESTART IDENTITY CASCADE")
    names = [f"wf-{i:03d}" for i in range(args.workflows)]
    busy = set(names[::20])
    busy_runs = len(busy) * BUSY_DAYS * 24 * 27  # about 27 an hour on average
    hourly_runs = max(48, (args.runs - busy_runs) // max(1, args.workflows - len(busy)))
    shuffled = names[:]
    rng.shuffle(shuffled)
    quarter = args.workflows // 4
    injected: dict[str, str | None] = dict.fromkeys(names)
    injected.update({n: "duration" for n in shuffled[:quarter]})
    injected.update({n: "failure_rate" for n in shuffled[quarter:2 * quarter]})
    injected.update({n: "volume" for n in shuffled[2 * quarter:3 * quarter]})
    profile = {}
    batch = []
    for name in names:
        base_ms = rng.uniform(60_000, 1_800_000)
        fail_rate = rng.uniform(0.01, 0.08)
        profile[name] = (base_ms, fail_rate, name in busy)
        span = timedelta(days=BUSY_DAYS) if name in busy else timedelta(hours=hourly_runs)
        moments = _moments(name, name in busy, now - span, now, rng, injected, now)
        for i, at in enumerate(moments):
            ms = _duration(base_ms, at, rng)
            recent = now - at < timedelta(hours=24)
            rate = 0.5 if recent and injected[name] == "failure_rate" else fail_rate
            status = "FAILED" if rng.random() < rate else "SUCCESS"
            last = i == len(moments) - 1
            if last and injected[name] == "duration":
                status, ms = "SUCCESS", int(ms * (3.0 if rng.random() < 0.7 else 0.25))
            elif last:
                status = "SUCCESS" if injected[name] is None or status == "SUCCESS" else status
            at = min(at, now - timedelta(milliseconds=ms))  # finished by now
            batch.append(WorkflowExecution(
                project=project, run_id=f"{name}-{i}", workflow_name=name, status=status, started_at=at,
                completed_at=at + timedelta(milliseconds=ms), duration_ms=ms, alert_state="NONE",
            ))
            if len(batch) >= 10_000:
                WorkflowExecution.objects.bulk_create(batch)
                batch = []
    WorkflowExecution.objects.bulk_create(batch)
    rebuild_in_database()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE workflow_executions")
        cursor.execute("VACUUM ANALYZE workflow_daily_stats")
    return injected, profile


def recover(project, names, profile, now, rng):
    """A day of normal runs after `now`: every finding should clear."""
    from monitoring.models import WorkflowExecution
    from monitoring.rollup import rebuild_in_database

    runs = []
    for name in names:
        base_ms, _, busy = profile[name]
        moments = _moments(name, busy, now, now + timedelta(hours=24, minutes=30), rng, {}, now)
        for i, at in enumerate(moments):
            ms = _duration(base_ms, at, rng)
            runs.append(WorkflowExecution(project=project, run_id=f"{name}-after-{i}", workflow_name=name,
                                          status="SUCCESS", started_at=at, completed_at=at + timedelta(milliseconds=ms),
                                          duration_ms=ms, alert_state="NONE"))
    WorkflowExecution.objects.bulk_create(runs)
    rebuild_in_database()
    return now + timedelta(hours=24, minutes=30)


def run(args):
    import os

    from django.conf import settings
    from django.utils import timezone

    from monitoring.anomalies import detect
    from monitoring.models import NotificationLog, WorkflowAnomaly, WorkflowExecution
    from projects.models import Project

    settings.MONITORING_NOTIFICATIONS = [{"channel": "webhook", "target": "http://127.0.0.1:9/bench"}]
    project, _ = Project.objects.get_or_create(slug="bench-anomalies", defaults={"name": "Bench anomalies"})
    tally = {k: {"tp": 0, "fp": 0, "fn": 0, "cleared_once": 0, "alerts": 0} for k in KINDS}
    from django.db import connection

    from bench.common import cpu_seconds

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def cpu_now():
        # This process and its PostgreSQL backend (local): the pass's CPU, whatever else the machine runs.
        return time.process_time(), cpu_seconds(backend) or 0.0

    print("Load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    first_ms, steady_ms, client_cpu_ms, db_cpu_ms, rows = [], [], [], [], 0
    for round_no in range(args.rounds):
        rng = random.Random(args.seed + round_no)
        now = timezone.now().replace(microsecond=0)
        load_start = time.perf_counter()
        injected, profile = generate(args, project, now, rng)
        rows = WorkflowExecution.objects.count()
        print(f"round {round_no + 1}: {rows:,} runs for {args.workflows} workflows loaded in "
              f"{time.perf_counter() - load_start:.1f} s")
        gc.collect()  # the loader's 100,000 model instances are garbage now: not the pass's cost
        start = time.perf_counter()
        detect(now)
        first_ms.append((time.perf_counter() - start) * 1000)
        for _ in range(args.repeat):
            start, (client, db) = time.perf_counter(), cpu_now()
            detect(now)
            steady_ms.append((time.perf_counter() - start) * 1000)
            client_after, db_after = cpu_now()
            client_cpu_ms.append((client_after - client) * 1000)
            db_cpu_ms.append((db_after - db) * 1000)
        found = {(a.workflow_name, a.kind) for a in WorkflowAnomaly.objects.all()}
        for kind in KINDS:
            positives = {n for n, k in injected.items() if k == kind}
            flagged = {n for n, k in found if k == kind}
            tally[kind]["tp"] += len(positives & flagged)
            tally[kind]["fp"] += len(flagged - positives)
            tally[kind]["fn"] += len(positives - flagged)
            tally[kind]["alerts"] += NotificationLog.objects.filter(notification_type="anomaly",
                                                                    payload__kind=kind).count()
        later = recover(project, list(injected), profile, now, rng)
        detect(later)
        detect(later + timedelta(minutes=5))
        for kind in KINDS:
            opened = WorkflowAnomaly.objects.filter(kind=kind)
            tally[kind]["cleared_once"] += sum(
                1 for a in opened if a.status == "CLEARED"
                and NotificationLog.objects.filter(dedupe_key=f"anomaly:{a.pk}:cleared").count() == 1
            )
    print()
    print("| kind | injected | found | false alarms | precision | recall | alerted once | cleared once |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        t = tally[kind]
        injected_total = t["tp"] + t["fn"]
        precision = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 1.0
        recall = t["tp"] / injected_total if injected_total else 1.0
        print(f"| {kind} | {injected_total} | {t['tp']} | {t['fp']} | {precision:.2f} | {recall:.2f} | "
              f"{t['alerts']} alerts for {t['tp'] + t['fp']} findings | {t['cleared_once']} |")
    print()
    print(f"Detection pass over {rows:,} runs × {args.workflows} workflows: first pass (opens findings) median "
          f"{statistics.median(first_ms):.0f} ms; steady pass median {statistics.median(steady_ms):.0f} ms, "
          f"max {max(steady_ms):.0f} ms ({len(steady_ms)} passes)")
    print(f"CPU of a steady pass (median): this process {statistics.median(client_cpu_ms):.0f} ms + its PostgreSQL "
          f"backend {statistics.median(db_cpu_ms):.0f} ms (/proc, 10 ms ticks)")
    print("Load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
