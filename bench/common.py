"""Helpers shared by the benchmarks: database set-up, timing, EXPLAIN with sequential-scan flags, reporting."""

import os
import platform
import statistics
import time
from pathlib import Path
from urllib.parse import urlparse


def setup_database():
    """Create the benchmark database if needed, set Django up, and migrate."""
    import psycopg

    url = urlparse(os.environ["DATABASE_URL"])
    if url.scheme.startswith("postgres"):
        name = url.path.lstrip("/")
        admin = url._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    else:
        raise SystemExit("Benchmarks run on PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    # Loading a million rows takes longer than the statement timeout that guards web requests.
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn, repeat=30, warmup=3):
    """Run fn repeatedly; return (median_ms, p95_ms, last_result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95, result


def explain(queryset_or_sql, params=None, table_names=()):
    """EXPLAIN (ANALYZE, BUFFERS) text, and whether it sequentially scans any of `table_names`."""
    from django.db import connection

    if isinstance(queryset_or_sql, str):
        sql = queryset_or_sql
    else:
        sql, params = queryset_or_sql.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params or ())
        plan = "\n".join(row[0] for row in cursor.fetchall())
    seq = [t for t in table_names if f"Seq Scan on {t}" in plan]
    return plan, seq


def machine_line():
    cpus = os.cpu_count()
    mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return (
        f"{platform.node()}: {cpus} cores, {mem_gb} GiB, Python {platform.python_version()}, PostgreSQL {pg}"
    )


def cpu_seconds(pid):
    """User + system CPU seconds a local process has used so far (/proc), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def children(pid):
    """The direct children of a local process (a gunicorn arbiter's workers), or [] when it is gone."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree(pid):
    return [pid, *children(pid)]


NODES_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "nodes.sh"


def nodes(action, *extra, env=None, check=True):
    """scripts/nodes.sh up|down|kill N: web nodes behind haproxy on loopback (the environment says how many, which
    ports, which server)."""
    import subprocess

    return subprocess.run(
        [str(NODES_SCRIPT), action, *extra],
        check=check,
        env=env,
        cwd=NODES_SCRIPT.parent.parent,
        capture_output=not check,
    )


def node_pids(run_dir):
    """{node number: [arbiter, workers…]} of the nodes scripts/nodes.sh started in `run_dir`."""
    found = {}
    for pid_file in sorted(Path(run_dir).glob("node*.pid")):
        found[int(pid_file.stem.removeprefix("node"))] = tree(int(pid_file.read_text()))
    return found
