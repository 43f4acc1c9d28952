"""Remove activity events and audit actions past their project's retention, once (cron, tests, by hand).

Periodic runs are the scheduler's (`manage.py scheduler` enqueues processes.jobs.prune_activity daily).
On PostgreSQL whole month partitions are dropped where every project in them is past retention; the rest is
deleted in batches (events/retention.py).
"""

from django.core.management.base import BaseCommand

from events.retention import prune_activity


class Command(BaseCommand):
    help = ("Remove activity events and audit actions older than each project's retention (Settings → Retention). "
            "With --dry-run, say what would be removed and remove nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would be removed; remove nothing.")
        parser.add_argument("--once", action="store_true", help="One pass (the only mode; for cron lines).")
        parser.add_argument("--batch", type=int, default=None, help="Rows per DELETE (default RETENTION_DELETE_BATCH).")

    def handle(self, *args, dry_run, once, batch, **options):
        plan = prune_activity(dry_run=dry_run, batch=batch)
        for line in plan.lines():
            self.stdout.write(line)
        total = f"{plan.rows:,} rows"
        self.stdout.write(f"{'Dry run: would remove' if dry_run else 'Removed'} {total}.")
