"""Bring ChunkPerformance up to date from the events changed since the last run (also a django.tasks task)."""

import signal
import time

from django.core.management.base import BaseCommand

from events.quality import rollup_chunk_performance


class Command(BaseCommand):
    help = (
        "Recompute chunk performance for the chunks touched since the watermark (idempotent: re-running never "
        "double counts). --once for cron and tests; otherwise loops every --interval seconds until SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument("--full", action="store_true", help="Recompute every chunk, not only the changed ones.")
        parser.add_argument("--interval", type=int, default=300, help="Seconds between passes in loop mode (default 300).")

    def handle(self, *args, once, full, interval, **options):
        self.stopping = False
        if not once:
            # Finish the current pass, then exit: a pass is one transaction, so stopping mid-way loses nothing.
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        while True:
            summary = rollup_chunk_performance(full=full)
            self.stdout.write(
                f"{summary['mode']} rollup: {summary['chunks_recomputed']} chunks recomputed in "
                f"{summary['projects']} projects, processed until {summary['processed_until']}"
            )
            full = False
            if once:
                return
            deadline = time.monotonic() + max(1, interval)
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.5)
            if self.stopping:
                return

    def _stop(self, signum, frame):
        self.stopping = True
