"""The monitoring daemon: health checks, missed runs, failures, reports, notifications.

    manage.py monitor            # loop until SIGTERM/SIGINT (finishes the current pass, then exits)
    manage.py monitor --once     # one pass that waits for every due check's result, for cron and tests
    manage.py monitor --report   # build an on-demand report for the last --hours, then exit

Safe to run on several machines at once: every piece of work is claimed before it is done. In the loop, health
checks run on their own threads and each writes its result when it has it: a check slower than the interval never
holds a pass; on SIGTERM the checks still running are handed back (another process runs them) and it exits.
"""

import logging
import signal
import threading
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from monitoring.checks import CheckRunner
from monitoring.daemon import Monitor
from monitoring.reports import build_report

log = logging.getLogger("monitoring.daemon")


class Command(BaseCommand):
    help = "Run the monitoring daemon (health checks, missed runs, failures, reports, notifications with retries)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument("--interval", type=float, default=10.0, help="Seconds between passes (default 10).")
        parser.add_argument("--workers", type=int, default=16,
                            help="Threads for HTTP checks and deliveries (1: one after the other, in the loop's thread).")
        parser.add_argument("--batch", type=int, default=200, help="Rows claimed at a time.")
        parser.add_argument("--retry-base", type=float, default=None,
                            help="Backoff base in seconds (default: DELIVERY_ALERT_RETRY_BASE_SECONDS, 30).")
        parser.add_argument("--no-daily-report", action="store_true", help="Do not build yesterday's daily report.")
        parser.add_argument("--report", action="store_true", help="Build an on-demand report and exit.")
        parser.add_argument("--hours", type=int, default=24, help="Window of --report, in hours (default 24).")
        parser.add_argument("--rebuild-stats", action="store_true",
                            help="Recompute the dashboard's daily totals (workflow_daily_stats) from the runs and exit.")

    def handle(self, *args, **options):
        if options["rebuild_stats"]:
            from monitoring.rollup import rebuild_in_database

            self.stdout.write(f"daily stats rebuilt: {rebuild_in_database()} (workflow, day) rows")
            return
        if options["report"]:
            end = timezone.now()
            report = build_report(end - timedelta(hours=max(1, options["hours"])), end)
            self.stdout.write(f"report {report.report_id}: {report.total_runs} runs, {report.success_rate:g}% success")
            return
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        looping = not options["once"]
        workers = max(1, options["workers"])
        checks = CheckRunner(workers if workers > 1 else 0, record_in_threads=looping)
        monitor = Monitor(
            workers=workers,
            batch=options["batch"],
            retry_base=options["retry_base"],
            daily_reports=not options["no_daily_report"],
            checks=checks,
            wait_for_checks=not looping,
            interval=options["interval"] if looping else None,
        )
        try:
            while True:
                started = time.monotonic()
                try:
                    done = monitor.tick()
                except Exception:
                    # A lost database connection or similar must not end the daemon: log, reconnect next pass.
                    if options["once"]:
                        raise
                    log.exception("monitor pass failed; retrying after the interval")
                    close_old_connections()
                    done = {}
                if any(done.values()) or options["verbosity"] > 1:
                    self.stdout.write(" ".join(f"{k}={v}" for k, v in done.items()))
                if options["once"] or stop.is_set():
                    break
                close_old_connections()
                # Sleep in short steps so SIGTERM ends the loop promptly; a pass in progress always completes.
                stop.wait(max(0.0, options["interval"] - (time.monotonic() - started)))
                if stop.is_set():
                    break
        finally:
            checks.release_unfinished()
            monitor.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("monitor stopped")
