"""Monthly partitions of the append-only tables on PostgreSQL (native declarative partitioning, no extension).

    ensure_partitions()          # this month + PARTITION_MONTHS_AHEAD months; idempotent (scheduler and migrate)
    monthly_partitions(table)    # [(name, start, end)] of a partitioned table, oldest first; DEFAULT excluded
    feed_windows(model, before)  # the created_at windows a newest-first page reads, newest first (None: one query)

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
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db import connection as default_connection
from django.db.models import BooleanField, Expression
from django.utils import timezone

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


# --- the feed's windows: a newest-first page plans the partitions it reads -----------------------------------

# How far past now the first page looks: the clocks of the servers that stamp created_at (ingest uses the writing
# server's now) may run a little ahead of the reader's. A row later than that is "from the future" (a skewed clock,
# a direct database write): see feed_windows.
FEED_SKEW = timedelta(minutes=5)
# A process re-reads the partition list this often; creating, converting or dropping partitions in the process
# forgets it at once (forget_partitions). Only a plan rides on it: the windows tile the whole time line whatever
# the list says, so a stale list (a partition another process created or dropped) costs a partition planned or a
# window more, never a row.
PARTITION_LIST_SECONDS = 600
# How long a process trusts "no row is dated after now + FEED_SKEW" (the first page then does not plan the next
# month's partition and the DEFAULT one). A row written that far ahead shows on first pages at most this late.
FUTURE_CHECK_SECONDS = 60

# (alias, table) → (read at, ((start, end), …) of its month partitions, oldest first; () when not partitioned)
_LAYOUT: dict[tuple[str, str], tuple[float, tuple[tuple[datetime, datetime], ...]]] = {}
# (alias, table) → (checked at, the now + FEED_SKEW it checked from, whether a row was at or after it)
_FUTURE: dict[tuple[str, str], tuple[float, datetime, bool]] = {}


# (alias, table, the query's conditions) → how many months before its origin's month the last full page of that
# query reached: its next page starts its first window there (one query where a sparse filter would need two).
# Only a plan rides on it, like the rest: too short a reach costs a window more, too long a partition more.
_REACH: dict[tuple[str, str, int], int] = {}
REACH_ENTRIES = 4096


def forget_partitions() -> None:
    """Drop this process's cached partition lists and future-row checks (partitions created, converted, dropped)."""
    _LAYOUT.clear()
    _FUTURE.clear()
    _REACH.clear()


def remember_reach(model, using: str, windows: "FeedWindows", reached: datetime) -> None:
    """A full page read through `windows` ended at a row of `reached`'s month."""
    shape, origin = windows.shape, windows.origin
    if shape is None:
        return
    if len(_REACH) >= REACH_ENTRIES:
        _REACH.clear()
    origin_month, reached_month = month_start(origin), month_start(reached)
    months = (origin_month.year - reached_month.year) * 12 + origin_month.month - reached_month.month
    _REACH[using, model._meta.db_table, shape] = max(0, months)


def _layout(table: str, connection) -> tuple[tuple[datetime, datetime], ...]:
    key = (connection.alias, table)
    cached = _LAYOUT.get(key)
    if cached is None or time.monotonic() - cached[0] > PARTITION_LIST_SECONDS:
        months = tuple((start, end) for _, start, end in monthly_partitions(table, connection))
        cached = _LAYOUT[key] = (time.monotonic(), months)
    return cached[1]


def _future_rows(model, top: datetime, connection) -> bool:
    """Whether any row of `model` is dated at or after `top` (cached FUTURE_CHECK_SECONDS per process)."""
    table = model._meta.db_table
    key = (connection.alias, table)
    cached = _FUTURE.get(key)
    if cached is not None and time.monotonic() - cached[0] <= FUTURE_CHECK_SECONDS and cached[1] <= top:
        return cached[2]
    qn = connection.ops.quote_name
    condition = f"{qn(PARTITIONED_TABLES[table])} >= %s"
    params: list[object] = [top]
    # No index of a partition leads with created_at; on the activity table (status, created_at, id) with the three
    # statuses (a CHECK constraint holds them) is three short index descents instead of a scan of the DEFAULT
    # partition, which may hold years of rows older than the month partitions.
    if any(index.fields and index.fields[0] == "status" for index in model._meta.indexes):
        choices = [value for value, _ in model._meta.get_field("status").choices]
        condition, params = f"{qn('status')} = ANY(%s) AND {condition}", [choices, top]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {qn(table)} WHERE {condition} LIMIT 1", params)
        found = cursor.fetchone() is not None
    _FUTURE[key] = (time.monotonic(), top, found)
    return found


class _Bounds(Expression):
    """`created_at >= start AND created_at < end` on the query's own table, as a condition filter() takes.

    The same SQL as the two lookups `created_at__gte` / `__lt`, at about half their cost in Python (no lookup to
    build and resolve per bound, no field preparation of the values: psycopg sends an aware datetime as is) —
    every window is a query of its own, so this is paid per window."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, start: datetime | None, end: datetime | None):
        super().__init__()
        self.column, self.start, self.end = column, start, end

    def as_sql(self, compiler, connection):
        column = f"{compiler.quote_name(compiler.query.base_table)}.{connection.ops.quote_name(self.column)}"
        parts, params = [], []
        if self.start is not None:
            parts.append(f"{column} >= %s")
            params.append(self.start)
        if self.end is not None:
            parts.append(f"{column} < %s")
            params.append(self.end)
        return f"({' AND '.join(parts)})", params


@dataclass(frozen=True)
class Window:
    """created_at >= start (None: no lower bound) and created_at < end (None: only the cursor's bound)."""

    start: datetime | None
    end: datetime | None

    def apply(self, queryset, column: str = "created_at"):
        if self.start is None and self.end is None:
            return queryset
        return queryset.filter(_Bounds(column, self.start, self.end))


# A generator of windows, newest first. Sent (rows found so far, rows wanted) after a short window, it sizes the
# next one from the density it found; iterated plainly, it widens 1, 2, 4 … months.
Windows = Generator[Window, tuple[int, int] | None, None]
AVERAGE_MONTH = timedelta(days=30.44)
# How much wider than the density found says the next window is made (a second short window costs a query).
WIDEN_MARGIN = 1.5


class FeedWindows:
    """The windows of one page (iterate, or send progress), and where they start from (`origin`: now or the
    cursor's time)."""

    def __init__(self, windows: Windows, origin: datetime, shape: int | None = None):
        self.windows, self.origin, self.shape = windows, origin, shape

    def __iter__(self):
        return self.windows

    def __next__(self) -> Window:
        return next(self.windows)

    def send(self, progress: tuple[int, int] | None) -> Window:
        return self.windows.send(progress)


def feed_windows(model, before: datetime | None = None, using: str = DEFAULT_DB_ALIAS, *,
                 now: datetime | None = None, conditions=None) -> FeedWindows | None:
    """The created_at windows a newest-first page of `model` reads in turn, newest first, until it has its rows;
    None: read it in one query (SQLite, a plain table, a cursor older than every month partition).

    A query with no bound on created_at is planned over every partition (≈ 1 ms for 17 at nine indexes each),
    however few rows it returns; one bounded to a month is planned over that month's partition alone. So:

    - the first page (`before` None) reads [start of this month, now + FEED_SKEW): this month's partition only —
      not next month's, not the DEFAULT one;
    - a later page reads from the start of its cursor's month (`before`, the cursor's created_at) to its cursor;
    - a query this process has seen fill a page before (`conditions`, its WHERE; remember_reach) starts
      its first window as many months back as that page reached — a sparse filter's page in one query;
    - a page still short widens into the months before: as far as the rows it found so far say the rest of the
      page lies (sent back by events/pagination.py newest_rows; × WIDEN_MARGIN, whole months), or, having found
      none, 1, 2, 4 … months; the window that would reach the oldest month partition is `created_at < its end`
      instead, which reads the oldest months and the DEFAULT partition's past with them — every row once;
    - rows dated after now + FEED_SKEW (a clock ahead, a direct write): when a check (cached FUTURE_CHECK_SECONDS)
      finds any, the first page reads [now + FEED_SKEW, ∞) first, so they show at the top in (created_at, id)
      order, as everywhere else; otherwise that window is skipped and next month / DEFAULT are not planned.

    The windows are disjoint and cover (−∞, top) in order, so reading them in turn gives exactly the rows and the
    order of the one unbounded query, whatever the partition list says (it only decides where windows end).
    """
    table = model._meta.db_table
    connection = connections[using]
    if table not in PARTITIONED_TABLES or connection.vendor != "postgresql":
        return None
    months = _layout(table, connection)
    if not months:
        return None
    oldest, newest_end = months[0][0], months[-1][1]
    try:
        future = None
        if before is None:
            origin = now or timezone.now()
            top: datetime | None = origin + FEED_SKEW
            if _future_rows(model, origin + FEED_SKEW, connection):
                future = top
        else:
            origin, top = before, None
        start = month_start(origin)
        shape = _shape(conditions)
        reach = _REACH.get((using, table, shape)) if shape is not None else None
        if reach:
            start = add_months(start, -reach)
            if start <= oldest:  # all of it: one window, the oldest months and the DEFAULT's past with them
                start = oldest - timedelta(microseconds=1)
        # Past the newest partition (the scheduler late, a cursor far ahead): the DEFAULT partition's part first.
        start = min(start, newest_end)
    except (ValueError, OverflowError):  # a cursor at the edge of the calendar: no window, one query
        return None
    if start < oldest and before is not None and not reach:  # a cursor older than every month partition
        return None
    return FeedWindows(_windows(origin, future, start, top, oldest), origin, shape)


def _shape(conditions) -> int | None:
    """A query's conditions (its WHERE) as a number: the same filters of the same project give the same one."""
    if conditions is None:
        return None
    try:
        return hash(conditions)
    except TypeError:
        return None


def _windows(origin: datetime, future: datetime | None, start: datetime, top: datetime | None,
             oldest: datetime) -> Windows:
    if future is not None:
        yield Window(future, None)
    if start < oldest:
        yield Window(None, top)
        return
    progress = yield Window(start, top)
    doubling = 1
    while True:
        width = doubling
        if progress is not None and progress[0] > 0:
            found, wanted = progress
            span = (origin - start) * (wanted - found) / found * WIDEN_MARGIN
            width = max(1, -(-span // AVERAGE_MONTH))  # whole months, rounded up
        try:
            lower = add_months(start, -int(width))
        except (ValueError, OverflowError):
            lower = oldest
        if lower <= oldest:
            yield Window(None, start)
            return
        progress = yield Window(lower, start)
        start, doubling = lower, doubling * 2


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
        forget_partitions()
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
    forget_partitions()
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
