"""Bring a monthly-partitioned table back to the layout events/partitions.py builds, keeping every row.

One transaction, the table locked for its length. In order:
1. a plain table (converted back by hand) is partitioned again with events.partitions.convert_table;
2. partitions someone detached are attached back, after their bounds are checked (the SQL check_schema prints);
3. a missing DEFAULT partition is created;
4. a partition that is not one calendar month is detached, a partition is created for each month its rows belong to,
   and its rows move there (through the table, so each row lands in its month);
5. each month of the history window whose rows sit in DEFAULT gets its partition, and its rows move into it
   (events.partitions.create_month_partition);
6. this month and the months ahead are created (as events.partitions.ensure_partitions does).
Every step is idempotent: on a table already in its layout, nothing happens.
"""

from datetime import UTC, datetime

from django.apps import apps
from django.conf import settings
from django.db import transaction

from events.partitions import (
    HISTORY_MONTHS,
    PARTITIONED_TABLES,
    add_months,
    convert_table,
    create_month_partition,
    default_partition_name,
    is_partitioned,
    month_start,
    monthly_partitions,
)

from .expected import expected_tables
from .live import read_live_schema
from .partitions import PartitionCheck, _ranges


class _Editor:
    """What convert_table needs of a schema editor: its connection (the caller holds the transaction)."""

    def __init__(self, connection):
        self.connection = connection


def repair_table(table: str, connection, now: datetime | None = None) -> list[str]:
    """Repair `table`'s partitions; returns what was done, one sentence each."""
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not one of the monthly-partitioned tables ({', '.join(PARTITIONED_TABLES)}).")
    if connection.vendor != "postgresql":
        return []
    column = PARTITIONED_TABLES[table]
    now = now or datetime.now(UTC)
    qn = connection.ops.quote_name
    done: list[str] = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not is_partitioned(table, connection):
            convert_table(_Editor(connection), table, partitioned=True)
            return [f"{table} rebuilt as a monthly-partitioned table, every row kept"]
        cursor.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")
        live = read_live_schema(connection)
        parent = live[table]
        model = next(m for m in apps.get_models() if m._meta.db_table == table)
        stub = expected_tables([model], connection)[table]
        stub.partitioned_by = column
        check = PartitionCheck({table: stub}, live, connection, now)
        for detached in check._detached(stub, parent, column):
            _run(cursor, detached.finding.repair)
            done.append(f"{detached.candidate.name} attached back ({detached.rows} rows)")

        live = read_live_schema(connection)
        parent = live[table]
        if not any(p.is_default for p in parent.partition_details):
            name = default_partition_name(table)
            cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {qn(table)} DEFAULT")
            done.append(f"{name} created")

        cols = ", ".join(qn(c) for c, col in parent.columns.items() if col.generated is None)
        misbounded = [r for r in _ranges(parent) or [] if not r.monthly]
        aside = []
        for r in misbounded:
            cursor.execute(f"ALTER TABLE {qn(table)} DETACH PARTITION {qn(r.name)}")
            held = f"{r.name[:50]}__misbounded"
            cursor.execute(f"ALTER TABLE {qn(r.name)} RENAME TO {qn(held)}")
            aside.append((r, held))
        for r, held in aside:
            cursor.execute(
                f"SELECT DISTINCT date_trunc('month', {qn(column)} AT TIME ZONE 'UTC') FROM {qn(held)}")
            months = sorted(m.replace(tzinfo=UTC) for (m,) in cursor.fetchall())
            for month in months:
                if not _covered(connection, table, month):
                    create_month_partition(table, month, connection)
            cursor.execute(f"INSERT INTO {qn(table)} ({cols}) SELECT {cols} FROM {qn(held)}")
            moved = cursor.rowcount
            cursor.execute(f"DROP TABLE {qn(held)}")
            done.append(f"{r} replaced by the month partitions of its {moved} rows ({len(months)} months)")

        first = month_start(now)
        low = add_months(first, -HISTORY_MONTHS)
        high = add_months(first, settings.PARTITION_MONTHS_AHEAD + 1)
        default = default_partition_name(table)
        cursor.execute(
            f"SELECT date_trunc('month', {qn(column)} AT TIME ZONE 'UTC'), count(*) FROM {qn(default)} "
            f"WHERE {qn(column)} >= %s AND {qn(column)} < %s GROUP BY 1 ORDER BY 1",
            [low, high],
        )
        for month, count in cursor.fetchall():
            month = month.replace(tzinfo=UTC)
            if not _covered(connection, table, month):
                name = create_month_partition(table, month, connection)
                done.append(f"{name} created, {count} rows moved into it from {default}")
        for offset in range(settings.PARTITION_MONTHS_AHEAD + 1):
            month = add_months(first, offset)
            if not _covered(connection, table, month):
                done.append(f"{create_month_partition(table, month, connection)} created")
    return done


def _covered(connection, table: str, month: datetime) -> bool:
    end = add_months(month, 1)
    return any(start < end and month < stop for _, start, stop in monthly_partitions(table, connection))


def _run(cursor, sql: str) -> None:
    """Execute printed SQL: statements end with ';' at a line's end, comment lines start with '--'."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    for statement in text.split(";\n"):
        statement = statement.strip().rstrip(";").strip()
        if statement:
            cursor.execute(statement)
