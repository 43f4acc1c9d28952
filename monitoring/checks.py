"""Running HTTP health checks: `probe` (one request, no database) and `CheckRunner` (many at once, isolated).

A check's request ends at its own timeout whatever the server does (outbound.request keeps a whole-request
deadline). The runner gives each check a thread of its own from a bounded pool and writes each result the moment
it is known, so one slow server holds one thread for at most its timeout and delays no other check.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

import outbound
from lib.threads import DaemonThreadPool

log = logging.getLogger("monitoring.checks")

USER_AGENT = "ActivityHub-monitor/1"


@dataclass
class ProbeResult:
    healthy: bool
    actual_status: int | None
    response_time_ms: int
    error: str | None


def probe(url: str, method: str, expected_status: int, timeout_ms: int) -> ProbeResult:
    # Redirects are not followed: a check compares the first response's status (a 301 may be what is expected).
    started = time.perf_counter()
    status, error = None, None
    try:
        response = outbound.request(method, url, headers={"User-Agent": USER_AGENT}, timeout=timeout_ms / 1000)
        status = response.status
    except outbound.OutboundBlocked as exc:
        error = f"refused: {exc}"
    except outbound.OutboundTimeout as exc:  # the whole request's deadline: lookup, connection, headers and body
        error = f"timed out after {timeout_ms} ms while {exc.phase}"
    except outbound.OutboundError as exc:
        error = str(exc)
    elapsed = int((time.perf_counter() - started) * 1000)
    if error is None and status != expected_status:
        error = f"expected HTTP {expected_status}, got {status}"
    return ProbeResult(healthy=error is None, actual_status=status, response_time_ms=elapsed, error=error)


def probe_check(check) -> ProbeResult:
    return probe(check.url, check.method, check.expected_status, check.timeout_ms)


Recorder = Callable[[object, ProbeResult], None]


class CheckRunner:
    """Runs claimed health checks: each one probed on a thread of its own, its result recorded as soon as it is in.

    threads=0: inline, one after the other in the calling thread (what `--workers 1` uses).
    threads=N, record_in_threads=False: N daemon threads probe; the caller records each result, in its own thread
    and transaction, as it arrives (`collect`): a pass that waits for its checks (`monitor --once`, cron, tests).
    threads=N, record_in_threads=True: the thread that probed a check also records it, through its own database
    connection, so the caller (a periodic monitoring pass) need not wait at all.
    Daemon threads: a process told to stop does not wait for a slow server; `release_unfinished` hands the claims
    of the checks still running back, so another process runs them.
    """

    def __init__(self, threads: int, *, record_in_threads: bool = False):
        self.threads = max(0, threads)
        self.record_in_threads = record_in_threads
        self._pool = DaemonThreadPool(self.threads, "health-check") if self.threads else None
        self._running: dict[int, object] = {}  # check pk -> the claimed check (claimed_by is its claim token)
        self._results: list[tuple[object, ProbeResult, Recorder]] = []  # probed, for the caller to record
        self._changed = threading.Condition()

    def free(self, limit: int) -> int:
        """How many more checks may start now (at most `limit`)."""
        if self._pool is None:
            return limit
        with self._changed:
            return max(0, min(limit, self.threads - len(self._running)))

    def running(self) -> int:
        with self._changed:
            return len(self._running)

    def start(self, check, record: Recorder) -> None:
        if self._pool is None:
            record(check, probe_check(check))
            return
        with self._changed:
            self._running[check.pk] = check
        self._pool.submit(self._run, check, record)

    def _run(self, check, record: Recorder) -> None:
        handed_over = False
        try:
            result = probe_check(check)
            if not self.record_in_threads:
                with self._changed:
                    self._results.append((check, result, record))
                    handed_over = True
                    self._changed.notify_all()
                return
            record(check, result)
        except Exception:  # one check's failure to record must not end the thread or touch other checks
            log.exception("health check %s: the result could not be recorded", getattr(check, "check_id", check))
        finally:
            if self.record_in_threads:
                connections.close_all()  # this thread's own connections
            if not handed_over:
                with self._changed:
                    self._running.pop(check.pk, None)
                    self._changed.notify_all()

    def collect(self, timeout: float | None = 0) -> int:
        """Record the results that are in; if none is and a check is running, first wait up to `timeout` seconds
        (None: until a check finishes). Returns how many results this call recorded."""
        with self._changed:
            if not self._results and self._running:
                running_before = len(self._running)
                self._changed.wait_for(lambda: self._results or len(self._running) < running_before, timeout)
            results, self._results = self._results, []
        for check, result, record in results:
            try:
                record(check, result)
            finally:
                with self._changed:
                    self._running.pop(check.pk, None)  # type: ignore[attr-defined]
        return len(results)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no check is running, recording results as they come in; False if some still were after
        `timeout` seconds."""
        ends = None if timeout is None else time.monotonic() + timeout
        while self.running():
            left = None if ends is None else ends - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.collect(timeout=left)
        return True

    def release_unfinished(self) -> int:
        """Give back the claims of the checks still running (their late results are then dropped): for a process
        that stops now. Returns how many were released."""
        from .models import HealthCheck

        with self._changed:
            unfinished = list(self._running.values())
            self._running.clear()
            self._results.clear()
        released = 0
        for check in unfinished:
            released += HealthCheck.objects.filter(pk=check.pk, claimed_by=check.claimed_by).update(  # type: ignore[attr-defined]
                claimed_by=None, claimed_at=None
            )
        if released:
            log.warning("%s health check(s) still running were handed back for another process to run", released)
        return released


_shared: CheckRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> CheckRunner:
    """This process's runner for the periodic monitoring pass (MONITOR_CHECK_THREADS threads): it outlives each
    pass, so a slow check keeps running while the worker goes on with its next task."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CheckRunner(int(getattr(settings, "MONITOR_CHECK_THREADS", 8)), record_in_threads=True)
        return _shared


def release_unfinished_checks(wait: float = 0) -> int:
    """For a worker about to exit: let this process's running checks finish for up to `wait` seconds (a worker
    that ran out of work), then hand back the claims of those still running (all of them, for a worker told to
    stop). Returns how many were handed back."""
    if _shared is None:
        return 0
    if wait > 0:
        _shared.wait(timeout=wait)
    return _shared.release_unfinished()
