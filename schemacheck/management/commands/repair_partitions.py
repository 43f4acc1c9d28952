"""manage.py repair_partitions TABLE: the monthly-partition layout back, every row kept (schemacheck.partition_repair).

The repair check_schema prints for a table converted back to a plain one, a partition that is not one calendar
month, and months whose rows sit in the DEFAULT partition. One transaction; idempotent.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from events.partitions import PARTITIONED_TABLES
from schemacheck.partition_repair import repair_table


class Command(BaseCommand):
    help = (
        "Bring a monthly-partitioned table (events_activityevent, project_actions) back to its layout, keeping "
        "every row: partition a plain table again, attach detached partitions after checking their bounds, create "
        "the DEFAULT partition, replace partitions that are not one calendar month, give each month whose rows sit "
        "in DEFAULT its own partition, and create the months ahead. One transaction; running it twice does nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("table", choices=sorted(PARTITIONED_TABLES))
        parser.add_argument("--database", default="default", choices=list(connections))

    def handle(self, *args, table, database, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError(f"{connection.vendor}: tables are not partitioned there; nothing to repair.")
        done = repair_table(table, connection)
        self.stdout.write("\n".join(done) if done else f"{table} already has its partition layout; nothing changed.")
