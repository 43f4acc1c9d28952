"""The real worker and scheduler processes with one trickling health check and one healthy one, both on loopback
servers this test starts: the healthy result is stored within one monitoring interval, the slow one as timed out
at its own deadline, passes go on meanwhile, and a worker told to stop while a check's request is in flight ends
within its shutdown timeout and hands the check back. A task past its own deadline makes its worker stuck.

Elapsed times are asserted where they are the promise (within one interval, at the deadline): correctness bounds.
"""

import json
import signal
import time
from datetime import datetime

import pytest

from tests.receivers import Receiver, Trickler

from .processes import wait_for

INTERVAL = 2.0  # MONITOR_INTERVAL_SECONDS of this system
SLOW_TIMEOUT_MS = 3000  # longer than the interval: the slow check outlives a pass without holding one


@pytest.fixture
def healthy_url():
    with Receiver() as server:  # answers 200 at once
        yield server.url


def at(value):
    return datetime.fromisoformat(value)


def test_a_trickling_check_never_delays_a_healthy_one_and_a_stopping_worker_does_not_wait_for_it(system, healthy_url):
    with Trickler("headers", for_seconds=60) as trickler:
        system.python(
            "from monitoring.models import HealthCheck; "
            f"HealthCheck.objects.create(check_id='slow', check_name='Slow', url={trickler.url('/health')!r}, "
            f"timeout_ms={SLOW_TIMEOUT_MS}); "
            f"HealthCheck.objects.create(check_id='fast', check_name='Fast', url={healthy_url!r})"
        )
        env = {"MONITOR_INTERVAL_SECONDS": str(INTERVAL)}
        worker = system.start_manage("worker", "--interval", "0.1", "--shutdown-timeout", "2", name="worker", **env)
        scheduler = system.start_manage("scheduler", "--tick", "0.2", name="scheduler", **env)

        def results(check_id):
            return system.sql("SELECT status, checked_at, response_time_ms, error_message FROM system_health_checks "
                              "WHERE check_id = ? ORDER BY checked_at", (check_id,))

        def passes():
            return system.sql("SELECT started_at, finished_at, status FROM django_tasks_database_dbtaskresult "
                              "WHERE task_path = 'processes.jobs.monitor_pass' AND started_at IS NOT NULL "
                              "ORDER BY started_at")

        first_pass = wait_for(passes, what="the first monitoring pass to start")[0]
        [(status, checked_at, _, error)] = wait_for(lambda: results("fast"), timeout=INTERVAL + 5,
                                                    what="the healthy check's result")
        assert (status, error) == ("HEALTHY", None)
        assert (at(checked_at) - at(first_pass[0])).total_seconds() < INTERVAL  # within one interval

        [(status, slow_at, response_ms, error)] = wait_for(lambda: results("slow"), timeout=SLOW_TIMEOUT_MS / 1000 + 10,
                                                           what="the trickling check's result")
        assert status == "UNHEALTHY"
        assert error == f"timed out after {SLOW_TIMEOUT_MS} ms while waiting for the response headers"
        assert SLOW_TIMEOUT_MS <= response_ms < SLOW_TIMEOUT_MS + 500  # at its deadline, not after the trickle
        # Passes went on while the slow request was in flight, each short: none waited for it.
        finished = [row for row in passes() if row[2] == "SUCCESSFUL" and at(row[0]) < at(slow_at)]
        assert len(finished) >= 2, passes()
        assert all((at(end) - at(start)).total_seconds() < INTERVAL for start, end, _ in finished)
        assert "monitoring pass took" not in system.log(worker)  # no pass overran its interval

        # A worker told to stop while a check's request is in flight: it ends within its shutdown timeout.
        system.sql("UPDATE health_checks SET timeout_ms = 20000, due_at = '2000-01-01 00:00:00' WHERE check_id = 'slow'")
        wait_for(lambda: system.sql("SELECT claimed_by FROM health_checks WHERE check_id = 'slow'")[0][0],
                 timeout=INTERVAL + 5, what="the slow check to be running again")
        assert system.stop(scheduler) == 0
        time.sleep(0.5)  # the request is under way
        stopping = time.monotonic()
        assert system.stop(worker, signal.SIGTERM, timeout=2 + 3) == 0
        assert time.monotonic() - stopping < 2 + 1.0
        # Handed back, not left claimed for minutes: another worker takes it on its next pass.
        assert system.sql("SELECT claimed_by FROM health_checks WHERE check_id = 'slow'") == [(None,)]
        assert len(results("slow")) == 1
        assert "handed back" in system.log(worker)


def test_a_task_running_past_its_own_deadline_makes_its_worker_stuck_and_says_which(system, tmp_path):
    started = tmp_path / "started.txt"
    system.python(f"from tests.task_fixtures import overstays; overstays.enqueue({str(started)!r})")
    worker = system.start_manage("worker", "--interval", "0.1", name="worker")
    wait_for(started.exists, what="the task to start")
    health_code = ("import json; from processes.workers import process_health; "
                   "print(json.dumps(process_health()['worker']))")
    stuck = wait_for(lambda: (lambda w: w if w["stuck"] else None)(json.loads(system.python(health_code))),
                     timeout=7, what="the worker to be reported stuck (1 s deadline, 8 s task)")
    [process] = stuck["processes"]
    assert process["task"] == "tests.task_fixtures.overstays" and process["task_deadline_seconds"] == 1.0
    assert "has been running tests.task_fixtures.overstays (task " in process["problem"]
    assert "past its 1 s deadline." in process["problem"]
    wait_for(lambda: not json.loads(system.python(health_code))["stuck"], timeout=20,
             what="the worker to be unstuck once the task ended")
    assert system.stop(worker) == 0


def test_a_worker_run_in_batch_lets_the_checks_it_started_finish_before_it_exits(system, healthy_url):
    system.python(
        "from monitoring.models import HealthCheck; from processes.jobs import monitor_pass; "
        f"HealthCheck.objects.create(check_id='fast', check_name='Fast', url={healthy_url!r}); monitor_pass.enqueue()"
    )
    system.manage("worker", "--batch")
    assert system.sql("SELECT status FROM system_health_checks WHERE check_id = 'fast'") == [("HEALTHY",)]
    assert system.sql("SELECT claimed_by FROM health_checks") == [(None,)]
