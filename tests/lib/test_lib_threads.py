"""lib.threads.DaemonThreadPool: bounded like ThreadPoolExecutor, but a process may exit with a call still running."""

import subprocess
import sys
import threading
import time

import pytest

from lib.threads import DaemonThreadPool
from tests.system.processes import ROOT


def test_results_and_exceptions_reach_the_caller_and_threads_stay_within_the_bound():
    pool = DaemonThreadPool(3, "test")
    running, most = [0], [0]
    lock = threading.Lock()

    def work(n):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        if n == 7:
            raise ValueError("seven")
        return n * n

    futures = [pool.submit(work, n) for n in range(10)]
    assert [f.result(5) for f in futures if f is not futures[7]] == [n * n for n in range(10) if n != 7]
    with pytest.raises(ValueError, match="seven"):
        futures[7].result(5)
    assert most[0] <= 3 and len(pool._threads) <= 3
    pool.shutdown(wait=True)


def test_shutdown_cancels_what_has_not_started():
    pool = DaemonThreadPool(1, "test")
    release = threading.Event()
    first = pool.submit(release.wait, 5)
    waiting = pool.submit(time.sleep, 0)
    time.sleep(0.1)
    pool.shutdown(wait=False, cancel_futures=True)
    assert waiting.cancelled() and not first.done()
    release.set()
    assert first.result(5) is True


def test_a_process_exits_while_a_call_is_still_running():
    code = ("import time; from lib.threads import DaemonThreadPool; "
            "DaemonThreadPool(2, 'slow').submit(time.sleep, 30); print('leaving')")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0 and result.stdout.strip() == "leaving"
    assert time.monotonic() - started < 10  # a ThreadPoolExecutor would hold the exit for the 30 s call
