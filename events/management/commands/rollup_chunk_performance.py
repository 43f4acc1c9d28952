"""Bring ChunkPerformance up to date from the events changed since the last run, once (cron, tests, by hand).

Periodic runs are the scheduler's (`manage.py scheduler` enqueues processes.jobs.rollup_chunk_performance every
five minutes; `manage.py worker` runs it), so there is no loop mode to deploy beside it any more.
"""

from django.core.management.base import BaseCommand

from events.quality import rollup_chunk_performance


class Command(BaseCommand):
    help = (
        "Recompute chunk performance for the chunks touched since the watermark (idempotent: re-running never "
        "double counts). One pass; `manage.py scheduler` runs it every five minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass (the only mode; kept for existing cron lines).")
        parser.add_argument("--full", action="store_true", help="Recompute every chunk, not only the changed ones.")

    def handle(self, *args, once, full, **options):
        summary = rollup_chunk_performance(full=full)
        self.stdout.write(
            f"{summary['mode']} rollup: {summary['chunks_recomputed']} chunks recomputed in "
            f"{summary['projects']} projects, processed until {summary['processed_until']}"
        )
