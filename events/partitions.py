"""Monthly partitions of the append-only tables on PostgreSQL (native declarative partitioning, no extension).

    ensure_partitions()          # this month + PARTITION_MONTHS_AHEAD months; idempotent (scheduler and migrate)
    monthly_partitions(table)    # [(name, start, end)] of a partitioned table, oldest first; DEFAULT excluded
    feed_window_start(model)     # where a newest-first page looks first (None: not partitioned)

Each table (PARTITIONED_TABLES) is `PARTITION BY RANGE (created_at)` with one partition per UTC month named
`<table>_pYYYYMM`, and a DEFAULT partition `<table>_default` that catches any row no month partition accepts
(a far-future or far-past created_at, or a month the scheduler has not created yet): an insert never fails for
want of a partition. Creating a month whose rows already sit in the DEFAULT partition moves them into it.

PostgreSQL requires the partition key in every primary key and unique index: the database's keys are the
model's keys plus `created_at` ((id, created_at), (project_id, external_id, created_at)); Django's state keeps
the model's own keys and check_schema accepts exactly that widening. Identity columns cannot be used on a
partitioned table before PostgreSQL 17, so `id` takes its values from a plain sequence owned by the column.
On SQLite (and any other database) the tables stay plain and every function here does nothing.
"""

import re
from datetime import UTC, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db import connection as default_connection

# table → partition key column. Message events and workflow executions stay plain (see docs/PERFORMANCE.md).
PARTITIONED_TABLES = {"events_activityevent": "created_at", "project_actions": "created_at"}
# The migration that partitions them: once it is applied, check_schema expects this layout (schemacheck/partitions.py).
PARTITIONING_MIGRATION = ("events", "0009_partition_activity_by_month")
# Months before this one that convert_table gives partitions of their own; older rows stay in the DEFAULT partition.
HISTORY_MONTHS = 120

RANGE_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, start: datetime) -> str:
    return f"{table}_p{start:%Y%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def parse_bound(text: str) -> datetime | None:
    """A range partition's bound as PostgreSQL prints it ('2026-12-01 00:00:00+00') → an aware datetime (UTC)."""
    text = text.strip()
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def is_partitioned(table: str, connection=default_connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def _partitions(table: str, connection) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [table],
        )
        return cursor.fetchall()


def monthly_partitions(table: str, connection=default_connection) -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of each range partition of `table`, oldest first; the DEFAULT partition is left out."""
    if not is_partitioned(table, connection):
        return []
    ranges = []
    for name, bound in _partitions(table, connection):
        match = RANGE_BOUND.search(bound or "")
        if match:
            start, end = parse_bound(match.group(1)), parse_bound(match.group(2))
            if start is not None and end is not None:
                ranges.append((name, start, end))
    return sorted(ranges, key=lambda r: r[1])


# table → partitioned? for the read path (feed_window_start), which must not ask the catalogue on every page.
# Only an optimisation rides on it (a wrong answer changes a query's plan, never its rows); convert_table clears it.
_PARTITIONED: dict[str, bool] = {}


def feed_window_start(model, before: datetime | None = None, using: str = DEFAULT_DB_ALIAS) -> datetime | None:
    """Where a newest-first page of `model` should look first, or None (read it in one query).

    On a monthly-partitioned table a query with no lower bound on created_at is planned over every partition
    (≈ 1 ms for 17 at nine indexes each), however few rows it returns. Bounded from the start of the month before
    `before` (the cursor's time, or now), the planner keeps two partitions (plus those after `before`) — and a
    busy project's page is all there; events/pagination.py reads the older rest only when the window is short.
    """
    table = model._meta.db_table
    connection = connections[using]
    if table not in PARTITIONED_TABLES or connection.vendor != "postgresql":
        return None
    if table not in _PARTITIONED:
        _PARTITIONED[table] = is_partitioned(table, connection)
    if not _PARTITIONED[table]:
        return None
    try:
        return add_months(month_start(before or datetime.now(UTC)), -1)
    except (ValueError, OverflowError):  # a cursor at the edge of the calendar: no window, one query
        return None


def has_default_partition(table: str, connection=default_connection) -> bool:
    return any((bound or "").strip().upper() == "DEFAULT" for _, bound in _partitions(table, connection))


def _plain_columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
        " AND attgenerated = '' ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def create_month_partition(table: str, start: datetime, connection=default_connection) -> str:
    """Create the partition of `table` for the month starting at `start`; rows of that month already in the
    DEFAULT partition move into it (PostgreSQL refuses the new partition while the DEFAULT holds its rows)."""
    qn = connection.ops.quote_name
    name, end = partition_name(table, start), add_months(start, 1)
    column = PARTITIONED_TABLES[table]
    default = default_partition_name(table)
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        moved, via_default = 0, has_default_partition(table, connection)
        if via_default:
            cols = ", ".join(qn(c) for c in _plain_columns(cursor, table))
            cursor.execute(f"LOCK TABLE {qn(table)} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(
                f"CREATE TEMP TABLE partition_move AS SELECT {cols} FROM {qn(default)} "
                f"WHERE {qn(column)} >= %s AND {qn(column)} < %s",
                [start, end],
            )
            moved = cursor.rowcount
            if moved:
                cursor.execute(f"DELETE FROM {qn(default)} WHERE {qn(column)} >= %s AND {qn(column)} < %s", [start, end])
        cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {qn(table)} {bounds}")
        if moved:
            cursor.execute(f"INSERT INTO {qn(table)} ({cols}) SELECT {cols} FROM partition_move")
        if via_default:
            cursor.execute("DROP TABLE partition_move")
    return name


def ensure_partitions(months_ahead: int | None = None, *, now: datetime | None = None,
                      connection=default_connection) -> list[str]:
    """Create the partitions of this month and the next `months_ahead` months that do not exist yet, for every
    partitioned table. Idempotent; returns the names created. Months an existing partition overlaps are skipped."""
    if connection.vendor != "postgresql":
        return []
    months_ahead = settings.PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    first = month_start(now or datetime.now(UTC))
    created = []
    for table in PARTITIONED_TABLES:
        if not is_partitioned(table, connection):
            continue
        existing = monthly_partitions(table, connection)
        for offset in range(months_ahead + 1):
            start = add_months(first, offset)
            end = add_months(start, 1)
            if any(s < end and start < e for _, s, e in existing):
                continue
            created.append(create_month_partition(table, start, connection))
    return created


def after_migrate(sender, using, plan=None, **kwargs):
    """post_migrate: partitions ahead exist after every `migrate` (not when migrating the tables away)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        ensure_partitions(connection=connection)


# --- converting a populated table (migration events 0009) ------------------------------------------------


def _widen_keys(indexdef: str, column: str) -> str:
    """`CREATE UNIQUE INDEX … USING btree (a, b) …` → `… (a, b, column) …`."""
    start = indexdef.index("(", indexdef.index(" USING "))
    depth = 0
    for position in range(start, len(indexdef)):
        depth += {"(": 1, ")": -1}.get(indexdef[position], 0)
        if depth == 0:
            return f"{indexdef[:position]}, {column}{indexdef[position:]}"
    raise ValueError(indexdef)


def _narrow_keys(indexdef: str, column: str) -> str:
    return indexdef.replace(f", {column})", ")", 1)


def _table_parts(cursor, table: str):
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid), conindid FROM pg_constraint WHERE conrelid = to_regclass(%s)"
        " AND contype IN ('p', 'u', 'f')",
        [table],
    )
    constraints = cursor.fetchall()
    backing = {indid for _, kind, _, indid in constraints if kind in "pu"}
    cursor.execute(
        "SELECT i.indexrelid, pg_get_indexdef(i.indexrelid), i.indisunique FROM pg_index i "
        "WHERE i.indrelid = to_regclass(%s)",
        [table],
    )
    indexes = [(d.replace(" ON ONLY ", " ON "), unique) for oid, d, unique in cursor.fetchall() if oid not in backing]
    cursor.execute(
        "SELECT attname, pg_get_serial_sequence(%s, attname), attidentity FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
        "AND pg_get_serial_sequence(%s, attname) IS NOT NULL",
        [table, table, table],
    )
    sequences = cursor.fetchall()
    return constraints, indexes, sequences


def _next_value(cursor, table: str, column: str, sequence: str) -> int:
    cursor.execute(f"SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) FROM {sequence}")
    (from_sequence,) = cursor.fetchone()
    cursor.execute(f'SELECT coalesce(max("{column}"), 0) + 1 FROM "{table}"')
    return max(from_sequence, cursor.fetchone()[0])


def convert_table(schema_editor, table: str, *, partitioned: bool, months_ahead: int | None = None) -> None:
    """Rebuild `table` as a monthly-partitioned table (or back as a plain one) keeping every row, index,
    constraint and foreign key, and the id sequence's position. PostgreSQL only; one transaction (the migration's)."""
    column = PARTITIONED_TABLES[table]
    months_ahead = settings.PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    _PARTITIONED.clear()
    old = f"{table}__previous"
    cursor = schema_editor.connection.cursor()
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # rows written earlier in this transaction: no pending FK checks
    constraints, indexes, sequences = _table_parts(cursor, table)
    positions = {col: _next_value(cursor, table, col, seq) for col, seq, _ in sequences}
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    for col, seq, identity in sequences:
        if identity:
            cursor.execute(f'ALTER TABLE "{old}" ALTER COLUMN "{col}" DROP IDENTITY')
        else:
            cursor.execute(f'ALTER TABLE "{old}" ALTER COLUMN "{col}" DROP DEFAULT')
            cursor.execute(f"DROP SEQUENCE {seq}")
    like = f'(LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)'
    if partitioned:
        cursor.execute(f'CREATE TABLE "{table}" {like} PARTITION BY RANGE ("{column}")')
        for col, seq, _ in sequences:
            cursor.execute(f"CREATE SEQUENCE {seq} START WITH {positions[col]}")
            cursor.execute(f"ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" SET DEFAULT nextval('{seq}')")
            cursor.execute(f'ALTER SEQUENCE {seq} OWNED BY "{table}"."{col}"')
        now = month_start(datetime.now(UTC))
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"{column}\" AT TIME ZONE 'UTC') FROM \"{old}\" "
            f"WHERE \"{column}\" >= %s AND \"{column}\" < %s",
            [add_months(now, -HISTORY_MONTHS), now],
        )
        months = {m.replace(tzinfo=UTC) for (m,) in cursor.fetchall()} | {add_months(now, i) for i in range(months_ahead + 1)}
        for start in sorted(months):
            cursor.execute(
                f'CREATE TABLE "{partition_name(table, start)}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{add_months(start, 1).isoformat()}')"
            )
        cursor.execute(f'CREATE TABLE "{default_partition_name(table)}" PARTITION OF "{table}" DEFAULT')
    else:
        cursor.execute(f'CREATE TABLE "{table}" {like}')
        for col, _, _ in sequences:
            cursor.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{col}" ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {positions[col]})'
            )
    cols = ", ".join(f'"{c}"' for c in _plain_columns(cursor, old))
    cursor.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}"')
    change = _widen_keys if partitioned else _narrow_keys
    for name, kind, definition, _ in sorted(constraints, key=lambda c: c[1] != "p"):
        if kind in "pu":
            keys = definition[definition.index("(") + 1 : definition.index(")")]
            keys = f"{keys}, {column}" if partitioned else keys.replace(f", {column}", "")
            definition = f"{definition[: definition.index('(')]}({keys}){definition[definition.index(')') + 1 :]}"
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for definition, unique in indexes:
        cursor.execute(change(definition, column) if unique else definition)
    cursor.execute(f'ANALYZE "{table}"')
