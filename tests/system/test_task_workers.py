"""Tasks run by real worker processes, on the database backend and through the real Redis at 127.0.0.1:6379;
retries with backoff; a worker stopped mid-task; heartbeats."""

import json
import signal
from datetime import datetime

import pytest

from .processes import TEST_REDIS_URL, wait_for


def enqueue(system, call):
    """Enqueue `call` (e.g. "write_file.enqueue('/tmp/x', 'hi')") from another process; returns the task id."""
    return system.python(f"from tests.task_fixtures import *; print({call}.id)")


def redis_env(prefix):
    return {"TASKS_URL": TEST_REDIS_URL, "TASKS_KEY_PREFIX": prefix, "TASKS_CLAIM_TIMEOUT": "3"}


@pytest.fixture
def redis_tasks(settings, redis_prefix):
    """This test process enqueues and reads results through Redis, with the prefix its worker is given."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_redis.RedisTaskBackend", "QUEUES": [], "OPTIONS": {
        "REDIS_URL": TEST_REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix, "REDIS_CONSUMER_GROUP": f"{redis_prefix}_workers",
    }}}
    return redis_env(redis_prefix)


def test_database_worker_runs_a_task_enqueued_by_another_process(system, tmp_path):
    marker = tmp_path / "done.txt"
    task_id = enqueue(system, f"write_file.enqueue({str(marker)!r}, 'from the database queue')")
    worker = system.start_manage("worker", name="worker")
    wait_for(marker.exists, what="the worker to run the task")
    assert marker.read_text() == "from the database queue"
    wait_for(lambda: system.sql("SELECT status FROM django_tasks_database_dbtaskresult WHERE id = ?",
                                (task_id.replace("-", ""),)) == [("SUCCESSFUL",)], what="the result to be stored")
    assert system.stop(worker) == 0
    assert system.sql("SELECT count(*) FROM activityhub_processheartbeat") == [(0,)]  # a clean stop leaves no row


def test_redis_worker_runs_a_task_enqueued_through_redis(system, tmp_path, redis_tasks):
    from tests.task_fixtures import write_file

    marker = tmp_path / "done.txt"
    result = write_file.enqueue(str(marker), "through redis")
    worker = system.start_manage("worker", name="worker", **redis_tasks)
    wait_for(marker.exists, what="the Redis worker to run the task")
    wait_for(lambda: write_file.get_result(result.id).status == "SUCCESSFUL", what="the result in Redis")
    assert write_file.get_result(result.id).return_value == "through redis"
    # Nothing went through the database queue.
    assert system.sql("SELECT count(*) FROM django_tasks_database_dbtaskresult") == [(0,)]
    assert system.stop(worker) == 0


def test_failing_task_is_retried_with_backoff_and_every_failure_stays_visible(system, tmp_path):
    attempts = tmp_path / "attempts.txt"
    retry = {"TASK_MAX_ATTEMPTS": "3", "TASK_RETRY_BASE_SECONDS": "0.5"}
    enqueue(system, f"always_fails.enqueue({str(attempts)!r})")
    worker = system.start_manage("worker", "--interval", "0.1", name="worker", **retry)
    wait_for(lambda: [row[1] for row in system.tasks()] == ["FAILED"] * 3, timeout=90, what="three failed attempts")
    assert system.stop(worker) == 0
    rows = system.tasks()
    assert [json.loads(row[2])["kwargs"].get("attempt", 1) for row in rows] == [1, 2, 3]
    assert all("the service this job needs is down" in row[6] for row in rows)  # the traceback, for the admin
    # Each retry was deferred by base × 2^(attempt-1) after the attempt before it started: 0.5 s, then 1 s.
    started = [datetime.fromisoformat(row[4]) for row in rows]
    run_after = [datetime.fromisoformat(row[3]) for row in rows[1:]]
    assert (run_after[0] - started[0]).total_seconds() >= 0.5
    assert (run_after[1] - started[1]).total_seconds() >= 1.0
    assert len(attempts.read_text().splitlines()) == 3  # and no fourth attempt was queued
    assert "giving up" in system.log(worker)


def test_failing_task_is_retried_through_redis_and_ends_failed(system, tmp_path, redis_tasks):
    from tests.task_fixtures import always_fails

    attempts = tmp_path / "attempts.txt"
    first = always_fails.enqueue(str(attempts))
    worker = system.start_manage("worker", name="worker", TASK_MAX_ATTEMPTS="2", TASK_RETRY_BASE_SECONDS="0.2",
                                 **redis_tasks)
    wait_for(lambda: attempts.exists() and len(attempts.read_text().splitlines()) == 2, timeout=90,
             what="two attempts through Redis")
    wait_for(lambda: "giving up" in system.log(worker), what="the last attempt to fail")
    assert system.stop(worker) == 0
    failed = always_fails.get_result(first.id)
    assert failed.status == "FAILED"
    assert "the service this job needs is down" in failed.errors[0].traceback


def test_worker_stopped_mid_task_puts_it_back_and_the_next_worker_finishes_it(system, tmp_path):
    started = tmp_path / "started.txt"
    task_id = enqueue(system, f"slow_write.enqueue('written-by-the-task', {str(started)!r})").replace("-", "")
    first = system.start_manage("worker", "--shutdown-timeout", "0.5", name="first-worker")
    wait_for(started.exists, what="the task to start")
    assert system.stop(first, signal.SIGTERM) == 0
    # Not half-done: the task's row was rolled back, and the task waits for another worker.
    assert system.sql("SELECT count(*) FROM activityhub_periodicjob WHERE name = 'written-by-the-task'") == [(0,)]
    assert system.sql("SELECT status FROM django_tasks_database_dbtaskresult WHERE id = ?", (task_id,)) == [("READY",)]
    assert "put back in the queue" in system.log(first)

    second = system.start_manage("worker", name="second-worker")
    wait_for(lambda: system.sql("SELECT status FROM django_tasks_database_dbtaskresult WHERE id = ?", (task_id,))
             == [("SUCCESSFUL",)], what="the second worker to finish the task")
    assert system.stop(second) == 0
    assert system.sql("SELECT count(*) FROM activityhub_periodicjob WHERE name = 'written-by-the-task'") == [(1,)]
    workers = json.loads(system.sql("SELECT worker_ids FROM django_tasks_database_dbtaskresult WHERE id = ?", (task_id,))[0][0])
    assert len(workers) == 2 and workers[0] != workers[1]


def test_worker_and_scheduler_beat_while_they_run_and_leave_no_row_when_stopped(system):
    def beats():
        return dict(system.sql("SELECT role, beat_at FROM activityhub_processheartbeat"))

    worker = system.start_manage("worker", name="worker")
    scheduler = system.start_manage("scheduler", name="scheduler", MONITOR_INTERVAL_SECONDS="3600")
    first = wait_for(lambda: beats() if set(beats()) == {"worker", "scheduler"} else None,
                     what="a heartbeat from each process")
    wait_for(lambda: all(beats().get(role, "") > at for role, at in first.items()), what="both heartbeats to move on")
    assert system.stop(scheduler) == 0
    assert system.stop(worker) == 0
    assert beats() == {}


def test_redis_worker_stopped_mid_task_leaves_it_for_the_next_worker(system, tmp_path, redis_tasks):
    from tests.task_fixtures import slow_write

    started = tmp_path / "started.txt"
    result = slow_write.enqueue("written-through-redis", str(started))
    first = system.start_manage("worker", "--shutdown-timeout", "0.5", name="first-worker", **redis_tasks)
    wait_for(started.exists, what="the task to start")
    assert system.stop(first, signal.SIGTERM) != 0  # out of time: the process exits without finishing the task
    # Not half-done: the task's transaction never committed.
    assert system.sql("SELECT count(*) FROM activityhub_periodicjob WHERE name = 'written-through-redis'") == [(0,)]
    assert slow_write.get_result(result.id).status == "RUNNING"

    # Another worker reclaims it once TASKS_CLAIM_TIMEOUT (3 s here) has passed, and finishes it.
    second = system.start_manage("worker", "--claim-interval", "1", name="second-worker", **redis_tasks)
    wait_for(lambda: slow_write.get_result(result.id).status == "SUCCESSFUL", timeout=90,
             what="the second worker to reclaim and finish the task")
    assert system.stop(second) == 0
    assert system.sql("SELECT count(*) FROM activityhub_periodicjob WHERE name = 'written-through-redis'") == [(1,)]
