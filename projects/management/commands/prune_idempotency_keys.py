"""Delete stored Idempotency-Key responses older than the replay window (cron: daily)."""

from django.core.management.base import BaseCommand

from projects.idempotency import prune_expired


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than --hours (default 24): later retries create new objects."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=24)

    def handle(self, *args, hours, **options):
        deleted = prune_expired(hours)
        self.stdout.write(f"Deleted {deleted} idempotency record(s) older than {hours} h.")
