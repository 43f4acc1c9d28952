"""Create the monthly partitions of this month and the months ahead (PostgreSQL; idempotent).

`migrate` runs it after every migration and the scheduler's `activity-partitions` job every six hours.
"""

from django.core.management.base import BaseCommand
from django.db import connection

from events.partitions import ensure_partitions


class Command(BaseCommand):
    help = "Create the missing monthly partitions of the activity events and audit actions (this month + N ahead)."

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=None, help="Default PARTITION_MONTHS_AHEAD (1).")

    def handle(self, *args, months_ahead, **options):
        if connection.vendor != "postgresql":
            self.stdout.write(f"{connection.vendor}: the tables are not partitioned; nothing to do.")
            return
        if months_ahead is not None and not 0 <= months_ahead <= 120:
            self.stderr.write("--months-ahead must be between 0 and 120.")
            raise SystemExit(2)
        created = ensure_partitions(months_ahead)
        self.stdout.write("\n".join(f"created {name}" for name in created) or "every partition already exists")
