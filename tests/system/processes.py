"""Running ActivityHub's real processes (worker, scheduler, web) from a test, on a database file of their own.

pytest-django's SQLite test database lives in memory, out of reach of another process, so each test gets a copy
of a database file migrated once per test session. Every process is bounded: `wait_for` gives up after its
timeout, and `stop` kills what did not exit after SIGTERM.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

import pytest

from tests.clock import days_ahead

ROOT = Path(__file__).resolve().parents[2]
SHIFTED = Path(__file__).resolve().parent / "shifted.py"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class _Process(subprocess.Popen[bytes]):
    """A process of the system, with the log file its output goes to."""

    log_path: Path
    log_file: IO[str]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")


class System:
    """One database file and the environment every process of this test runs with."""

    def __init__(self, directory, database, **env):
        self.directory = directory
        self.database = database
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "TASKS_URL": "db",
            "HEARTBEAT_SECONDS": "0.5",
            "DJANGO_SETTINGS_MODULE": "activityhub.settings",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.env.pop("REDIS_URL", None)
        self.processes = []

    def manage(self, *args, timeout=120, **env):
        program = [sys.executable, str(SHIFTED)] if days_ahead() else [sys.executable]
        result = subprocess.run([*program, "manage.py", *args], cwd=ROOT, env={**self.env, **env},
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def python(self, code, **env):
        """Run Django code in a fresh process of this system (what another machine would do)."""
        return self.manage("shell", "--no-imports", "-c", code, **env).strip()

    def start(self, *command, name, **env):
        if command[0] == sys.executable and days_ahead():  # the test clock moved: so is the process's
            command = (sys.executable, str(SHIFTED), *command[1:])
        log = open(self.directory / f"{name}.log", "w")  # noqa: SIM115  # outlives this call: closed in stop()
        process = _Process(command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.log_path, process.log_file = self.directory / f"{name}.log", log
        self.processes.append(process)
        return process

    def start_manage(self, *args, name, **env):
        return self.start(sys.executable, "manage.py", *args, name=name, **env)

    def log(self, process):
        return process.log_path.read_text()

    def stop(self, process, sig=signal.SIGTERM, timeout=30):
        """Signal the process and wait for it; returns its exit code (a process that hangs is killed, then fails)."""
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                raise AssertionError(f"{process.args} did not stop within {timeout} s of {sig!r}:\n{self.log(process)}") from None
        process.log_file.close()
        return process.returncode

    def sql(self, query, params=()):
        with sqlite3.connect(self.database, timeout=30) as db:
            return db.execute(query, params).fetchall()

    def tasks(self):
        return self.sql("SELECT task_path, status, args_kwargs, run_after, started_at, finished_at, traceback, worker_ids "
                        "FROM django_tasks_database_dbtaskresult ORDER BY enqueued_at")

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            process.log_file.close()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    path = tmp_path_factory.mktemp("system") / "migrated.sqlite3"
    System(path.parent, path).manage("migrate", "--no-input", "-v0", timeout=300)
    return path


@pytest.fixture
def system(tmp_path, migrated_database):
    database = tmp_path / "db.sqlite3"
    shutil.copy(migrated_database, database)
    running = System(tmp_path, database)
    yield running
    running.close()


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the test Redis; its keys are deleted afterwards. Fails without Redis."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {TEST_REDIS_URL} ({exc}): start redis-server (.ci/run does).")
    prefix = f"ah_test_{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
