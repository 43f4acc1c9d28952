"""The scheduler: enqueues each periodic job (monitoring pass, daily report, chunk rollup, content gaps, pruning)
when it is due; `manage.py worker` processes run them.

    manage.py scheduler          # loop until SIGTERM/SIGINT (finishes the current pass, then exits)
    manage.py scheduler --once   # enqueue what is due now, then exit (cron, tests)

Safe to run twice (a standby, a rolling deploy): a due run is claimed in the database before it is enqueued.
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from processes.models import Role
from processes.scheduling import enqueue_due_jobs, registered_jobs, sync_jobs
from processes.workers import Heartbeat

log = logging.getLogger("processes.scheduler")


class Command(BaseCommand):
    help = "Enqueue the periodic jobs as django.tasks tasks when due (one scheduler is enough; more are safe)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now and exit.")
        parser.add_argument("--tick", type=float, default=1.0, help="Seconds between passes (default 1).")

    def handle(self, *args, once, tick, **options):
        sync_jobs()
        if once:
            self.stdout.write(f"enqueued: {', '.join(enqueue_due_jobs()) or 'nothing due'}")
            return
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        heartbeat = Heartbeat(Role.SCHEDULER, threaded=False).start()
        self.stdout.write("scheduler started: " + ", ".join(f"{j.name} every {j.every}" for j in registered_jobs()))
        beat_every = max(1, round(heartbeat.interval / max(tick, 0.01)))
        try:
            passes = 0
            while not stop.is_set():
                try:
                    names = enqueue_due_jobs()
                    if names:
                        log.info("enqueued %s", ", ".join(names))
                except Exception:
                    # A lost database connection must not end the scheduler: log, reconnect on the next pass.
                    log.exception("scheduler pass failed; retrying")
                    close_old_connections()
                if passes % beat_every == 0:
                    heartbeat.beat()
                passes += 1
                stop.wait(tick)
        finally:
            heartbeat.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("scheduler stopped")
