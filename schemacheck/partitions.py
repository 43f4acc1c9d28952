"""Monthly-partitioned tables (PostgreSQL): the layout events/partitions.py builds, and repairs that keep every row.

Once events' partitioning migration is applied (events.partitions.PARTITIONING_MIGRATION), each table of
PARTITIONED_TABLES must be:
- partitioned by RANGE on its column (a plain table there is `not_partitioned`);
- cut into UTC calendar months [start, next month) (`partition_bounds`), with this month and the
  PARTITION_MONTHS_AHEAD months after it (`missing_partition`) and a DEFAULT partition (`missing_default_partition`);
- with no rows in the DEFAULT partition of a month from HISTORY_MONTHS back to the months ahead (`rows_in_default`):
  those months belong in partitions of their own (older and far-future rows stay in DEFAULT by design);
- with no partition left out of it: a table named like one of its partitions, with its columns, is a partition
  someone detached (`detached_partition`): its rows are invisible to the app. It is attached back after its bounds
  are checked, never replaced by an empty partition beside it.
Any partitioned table must have nothing of its own on one partition — a UNIQUE index, a CHECK, NOT NULL, a trigger,
another owner, row security (`partition_*`): each applies to one month's rows only — and every partition must carry
each of its table's indexes (`partitioned_index_incomplete`, what `CREATE INDEX … ON ONLY` leaves half done), with
no index left invalid by a cancelled `REINDEX CONCURRENTLY` (`leftover_index`).

The check reads catalogs, plus the rows of the DEFAULT partition (meant to be nearly empty; a large one is itself
the finding) and those of a detached partition (to check its bounds). Nothing else.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from events.partitions import (
    HISTORY_MONTHS,
    PARTITIONED_TABLES,
    PARTITIONING_MIGRATION,
    RANGE_BOUND,
    add_months,
    default_partition_name,
    month_start,
    parse_bound,
    partition_name,
)

from .expected import ExpectedTable
from .findings import ERROR, WARNING, Finding
from .live import LiveIndex, LivePartition, LiveSchema, LiveTable


def expect_partitioning(expected: dict[str, ExpectedTable], applied_migrations, connection) -> None:
    """Mark the tables the applied migrations partitioned by month."""
    if connection.vendor != "postgresql" or PARTITIONING_MIGRATION not in applied_migrations:
        return
    for table, column in PARTITIONED_TABLES.items():
        if table in expected:
            expected[table].partitioned_by = column


@dataclass
class Range:
    name: str
    start: datetime
    end: datetime

    @property
    def monthly(self) -> bool:
        return self.start == month_start(self.start) and self.end == add_months(self.start, 1)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end

    def __str__(self) -> str:
        return f'"{self.name}" [{_day(self.start)}, {_day(self.end)})'


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment == moment.replace(hour=0, minute=0, second=0, microsecond=0) else (
        f"{moment:%Y-%m-%d %H:%M}")


def _ranges(table: LiveTable) -> list[Range] | None:
    """The range partitions, oldest first; None when a bound cannot be read (MINVALUE, another type)."""
    ranges = []
    for part in table.partition_details:
        if part.is_default:
            continue
        m = RANGE_BOUND.search(part.bound)
        start, end = (parse_bound(m.group(1)), parse_bound(m.group(2))) if m else (None, None)
        if start is None or end is None:
            return None
        ranges.append(Range(part.name, start, end))
    return sorted(ranges, key=lambda r: r.start)


def _months(start: datetime, end: datetime) -> list[datetime]:
    months, month = [], month_start(start)
    while month < end:
        months.append(month)
        month = add_months(month, 1)
    return months


def _label(month: datetime) -> str:
    return f"{month:%Y-%m}"


class PartitionCheck:
    """The findings about one database's partitioned tables; `run()` returns them, most fundamental first."""

    def __init__(self, expected: dict[str, ExpectedTable], live: LiveSchema, connection, now: datetime | None = None):
        self.expected, self.live, self.connection = expected, live, connection
        self.qn = connection.ops.quote_name
        self.now = now or datetime.now(UTC)

    def run(self) -> list[Finding]:
        if self.connection.vendor != "postgresql":
            return []
        found: list[Finding] = []
        for name, exp in self.expected.items():
            table = self.live.get(name)
            if table is None:
                continue
            if exp.partitioned_by and not table.partition_key:
                found.append(self._not_partitioned(exp))
                continue
            if exp.partitioned_by and exp.partitioned_by not in table.columns:
                continue  # its partition key was renamed: the renamed_column finding comes first
            if exp.partitioned_by:
                found += self._monthly_layout(exp, table, exp.partitioned_by)
            elif table.partition_key.upper().startswith("RANGE"):
                found += self._coverage_only(exp, table)
            found += self._own_rules(exp, table)
        return found

    # --- a plain table where a migration built a partitioned one ----------------------------------------

    def _not_partitioned(self, exp: ExpectedTable) -> Finding:
        app, migration = PARTITIONING_MIGRATION
        return Finding(
            "not_partitioned",
            exp.name,
            f'"{exp.name}" is a plain table, but migration {app}.{migration} (recorded as applied) partitioned it by '
            f"month on {exp.partitioned_by}: retention deletes its old rows one by one instead of dropping months, "
            "the feed reads every month, and create_partitions does nothing for it. The repair rebuilds it "
            "partitioned in one transaction, keeping every row, index, constraint and the id sequence's position "
            "(the table is locked while its rows are copied)",
            f"manage.py repair_partitions {exp.name}",
            exp.label,
        )

    # --- the monthly layout -------------------------------------------------------------------------------

    def _monthly_layout(self, exp: ExpectedTable, table: LiveTable, column: str) -> list[Finding]:
        ranges = _ranges(table)
        if ranges is None:
            return []
        default = next((p for p in table.partition_details if p.is_default), None)
        first = month_start(self.now)
        ahead = [add_months(first, i) for i in range(settings.PARTITION_MONTHS_AHEAD + 1)]
        window = (add_months(first, -HISTORY_MONTHS), add_months(ahead[-1], 1))
        detached = self._detached(exp, table, column)
        covered_by_detached = {m for d in detached for m in d.months}
        in_default = self._rows_in_default(default, column, window) if default else {}
        found = [d.finding for d in detached]
        if default is None and not any(d.is_default for d in detached):
            found.append(self._missing_default(exp, column))
        found += [self._bounds(exp, r, column, default is not None) for r in ranges if not r.monthly]
        for month in ahead:
            end = add_months(month, 1)
            if month in covered_by_detached or any(r.overlaps(month, end) for r in ranges):
                continue
            found.append(self._missing_month(exp, month, column, default, in_default.get(month, 0)))
        homeless = {
            month: count for month, count in sorted(in_default.items())
            if month not in ahead and month not in covered_by_detached
            and not any(r.overlaps(month, add_months(month, 1)) for r in ranges)
        }
        if homeless and default is not None:
            found.append(self._homeless_rows(exp, default, homeless))
        return found

    def _coverage_only(self, exp: ExpectedTable, table: LiveTable) -> list[Finding]:
        """A range-partitioned date table no migration here describes: only that rows written now and next month
        have a partition (or a DEFAULT one) to go to."""
        if len(table.partition_columns) != 1:
            return []
        column = table.partition_columns[0]
        col = exp.columns.get(column)
        ranges = _ranges(table)
        if col is None or col.field.get_internal_type() not in {"DateTimeField", "DateField"} or ranges is None:
            return []
        default = next((p for p in table.partition_details if p.is_default), None)
        first = month_start(self.now)
        return [
            self._missing_month(exp, month, column, default, 0, create_partitions=False)
            for month in (first, add_months(first, 1))
            if not any(r.overlaps(month, add_months(month, 1)) for r in ranges)
        ]

    def _rows_in_default(self, default: LivePartition, column: str, window) -> dict[datetime, int]:
        c = self.qn(column)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT date_trunc('month', {c} AT TIME ZONE 'UTC'), count(*) FROM "
                f"{self.qn(default.schema)}.{self.qn(default.name)} WHERE {c} >= %s AND {c} < %s GROUP BY 1",
                list(window),
            )
            return {month.replace(tzinfo=UTC): count for month, count in cursor.fetchall()}

    def _missing_default(self, exp: ExpectedTable, column: str) -> Finding:
        name = default_partition_name(exp.name)
        return Finding(
            "missing_default_partition",
            exp.name,
            f'"{exp.name}" has no DEFAULT partition: a row whose {column} no month partition covers (a far-past or '
            "far-future date, or a month not created yet) cannot be stored, and its insert fails",
            f"CREATE TABLE {self.qn(name)} PARTITION OF {self.qn(exp.name)} DEFAULT;",
            exp.label,
        )

    def _bounds(self, exp: ExpectedTable, r: Range, column: str, has_default: bool) -> Finding:
        months = _months(r.start, r.end)
        if r.start != month_start(r.start) or r.end != month_start(r.end):
            gap = r.end if r.end != month_start(r.end) else r.start
            where = "in the DEFAULT partition" if has_default else "nowhere: their inserts fail"
            detail = (f"it starts or ends in the middle of a month, so rows of {column} from {_day(gap)} to the "
                      f"month's edge land {where}")
        else:
            detail = (f"it spans {len(months)} months ({', '.join(map(_label, months))}), so retention cannot drop "
                      "one without the others")
        return Finding(
            "partition_bounds",
            f"{exp.name}.{r.name}",
            f"partition {r} of \"{exp.name}\" is not one calendar month (UTC): {detail}; create_partitions skips "
            "every month it overlaps. The repair detaches it, creates a partition for each month its rows belong "
            "to and moves them there, in one transaction",
            f"manage.py repair_partitions {exp.name}",
            exp.label,
            severity=WARNING if has_default else ERROR,
        )

    def _missing_month(self, exp, month, column, default, rows, create_partitions=True) -> Finding:
        is_now = month == month_start(self.now)
        when = f"this month ({_label(month)})" if is_now else _label(month)
        if default is None:
            consequence = (f"no partition (nor a DEFAULT one) accepts rows with {column} in {when}: every insert "
                           f"{'from Django fails now' if is_now else 'fails from then on'}")
        else:
            consequence = (f"no partition covers {column} in {when}: its rows land in the DEFAULT partition "
                           f'"{default.name}", which retention can only delete row by row'
                           + (f" ({rows} row(s) of that month already sit there; creating the month moves them, "
                              "so CREATE TABLE … PARTITION OF alone would fail)" if rows else ""))
        repair = ("manage.py create_partitions\n# creates this month and the months ahead, moving their rows out of "
                  "the DEFAULT partition" if create_partitions else
                  f"CREATE TABLE {self.qn(partition_name(exp.name, month))} PARTITION OF {self.qn(exp.name)} "
                  f"FOR VALUES FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}');")
        return Finding(
            "missing_partition",
            exp.name,
            f'"{exp.name}" is partitioned by month and {consequence}. Partitions are created ahead by the '
            "scheduler's activity-partitions job or `manage.py create_partitions`",
            repair,
            exp.label,
            severity=ERROR if default is None else WARNING,
        )

    def _homeless_rows(self, exp, default: LivePartition, months: dict[datetime, int]) -> Finding:
        listed = ", ".join(f"{_label(m)} ({n} row{'s' if n != 1 else ''})" for m, n in list(months.items())[:12])
        more = f" and {len(months) - 12} more months" if len(months) > 12 else ""
        return Finding(
            "rows_in_default",
            f"{exp.name}.{default.name}",
            f'the DEFAULT partition "{default.name}" holds {sum(months.values())} row(s) of months that have no '
            f"partition of their own: {listed}{more}. The app sees them, but retention cannot drop those months "
            "whole (it deletes them row by row). The repair creates each month's partition and moves its rows there",
            f"manage.py repair_partitions {exp.name}",
            exp.label,
        )

    # --- partitions detached and left as tables -----------------------------------------------------------

    def _detached(self, exp: ExpectedTable, table: LiveTable, column: str) -> list["Detached"]:
        pattern = re.compile(rf"{re.escape(exp.name)}_(p(\d{{4}})(\d{{2}})|default)")
        found = []
        for candidate in self.live.tables.values():
            m = pattern.fullmatch(candidate.name)
            if not m or candidate.name in self.expected or candidate.partition_key:
                continue
            if set(candidate.columns) != set(table.columns):
                continue
            is_default = m.group(1) == "default"
            if not is_default and not 1 <= int(m.group(3)) <= 12:
                continue
            start = None if is_default else datetime(int(m.group(2)), int(m.group(3)), 1, tzinfo=UTC)
            found.append(Detached(self, exp, table, candidate, column, start))
        return found

    # --- rules one partition holds of its own -------------------------------------------------------------

    def _own_rules(self, exp: ExpectedTable, table: LiveTable) -> list[Finding]:
        found = []
        for part in table.partition_details:
            where = f'partition "{part.name}" of "{exp.name}"'
            rows = ("the rows of its month only" if not part.is_default else
                    "only the rows no month partition takes")
            p = self.qn(part.name)
            for index in part.indexes:
                if index.attached_to:
                    continue
                if not index.valid:
                    found.append(Finding(
                        "leftover_index", f"{part.name}.{index.name}",
                        f'index "{index.name}" on {where} is {"INVALID" if index.ready else "INVALID and not ready"} '
                        "and belongs to no index of the table: what a cancelled REINDEX CONCURRENTLY or CREATE INDEX "
                        "CONCURRENTLY leaves behind. No query uses it" + (
                            ", yet every write to the partition maintains it" if index.ready else
                            "; it takes disk space and the next REINDEX CONCURRENTLY leaves another beside it"),
                        "-- DROP INDEX CONCURRENTLY (outside a transaction) does not block writes meanwhile:\n"
                        f"DROP INDEX {self.qn(index.name)};",
                        exp.label,
                    ))
                elif index.unique and not index.primary:
                    drop = (f"ALTER TABLE {p} DROP CONSTRAINT {self.qn(index.constraint)};" if index.constraint
                            else f"DROP INDEX {self.qn(index.name)};")
                    found.append(Finding(
                        "partition_unique", f"{part.name}.{index.name}",
                        f"unique {'constraint' if index.constraint else 'index'} \"{index.name}\" on {where} "
                        f"({_keys(index)}) is not in model {exp.label} nor on its table: it rejects rows the model "
                        f"allows, for {rows}. Drop it unless it is a deliberate rule",
                        drop, exp.label,
                    ))
            found.extend(Finding(
                "partition_check", f"{part.name}.{check.name}",
                f'check constraint "{check.name}" {check.definition} on {where} is not in model {exp.label} nor '
                f"on its table: it rejects rows the model allows, for {rows}. Drop it unless it is a deliberate "
                "rule",
                f"ALTER TABLE {p} DROP CONSTRAINT {self.qn(check.name)};", exp.label,
            ) for check in part.checks)
            found.extend(Finding(
                "partition_not_null", f"{part.name}.{column}",
                f'column "{column}" is NOT NULL on {where}, while {exp.label} and the table allow NULL: a row '
                f"without it is rejected, for {rows}",
                f"ALTER TABLE {p} ALTER COLUMN {self.qn(column)} DROP NOT NULL;", exp.label,
            ) for column in part.not_null)
            for name, definition, before_row in part.triggers:
                effect = ("a BEFORE … FOR EACH ROW trigger can rewrite or silently drop each row written"
                          if before_row else "it runs on every write")
                found.append(Finding(
                    "partition_trigger", f"{part.name}.{name}",
                    f'trigger "{name}" on {where} only ({definition}): {effect}, for {rows}, not for the rest of '
                    "the table",
                    f"DROP TRIGGER {self.qn(name)} ON {p};", exp.label,
                    severity=ERROR if before_row else WARNING,
                ))
            if table.owner and part.owner != table.owner:
                found.append(Finding(
                    "partition_owner", part.name,
                    f'{where} is owned by role "{part.owner}", the table by "{table.owner}": the app, as the '
                    "table's owner, cannot drop it (retention), read it directly, or move rows in or out of it "
                    "(create_partitions): permission denied",
                    f"ALTER TABLE {p} OWNER TO {self.qn(table.owner)};", exp.label,
                ))
            if (part.row_security or part.force_row_security) and not (table.row_security
                                                                       or table.force_row_security):
                forced = " and FORCEd (its owner too)" if part.force_row_security else ""
                found.append(Finding(
                    "partition_row_security", part.name,
                    f"row-level security is enabled{forced} on {where}, not on the table: read directly (retention "
                    "counting and dropping a month, create_partitions moving rows) it shows and moves only the rows "
                    "its policies allow — none without a policy — to any role but a superuser",
                    f"ALTER TABLE {p} NO FORCE ROW LEVEL SECURITY;\nALTER TABLE {p} DISABLE ROW LEVEL SECURITY;",
                    exp.label,
                ))
        return found


def _keys(index: LiveIndex) -> str:
    m = re.search(r"USING \w+ \((.*)\)", index.definition)
    return m.group(1) if m else index.definition


class Detached:
    """A table named like a partition of `table`, with its columns, that is not one: its rows are out of the app's
    sight. Its bounds are checked (one read of its rows) before the repair attaches it back."""

    def __init__(self, check: PartitionCheck, exp: ExpectedTable, table: LiveTable, candidate: LiveTable,
                 column: str, start: datetime | None):
        self.exp, self.table, self.candidate, self.column, self.start = exp, table, candidate, column, start
        self.qn = check.qn
        self.is_default = start is None
        self.end = add_months(start, 1) if start is not None else None
        self.months = [] if start is None else [start]
        self.ranges = _ranges(table) or []
        c = self.qn(column)
        with check.connection.cursor() as cursor:
            outside = (f"count(*) FILTER (WHERE NOT ({c} >= %s AND {c} < %s))" if start else
                       "count(*) FILTER (WHERE " + (" OR ".join([f"({c} >= %s AND {c} < %s)"] * len(self.ranges))
                                                   or "false") + ")")
            params = [start, self.end] if start else [v for r in self.ranges for v in (r.start, r.end)]
            cursor.execute(f"SELECT count(*), min({c}), max({c}), {outside} FROM {self._where()}", params)
            self.rows, self.first, self.last, self.outside = cursor.fetchone()
        self.finding = self._finding()

    def _where(self) -> str:
        return f"{self.qn(self.candidate.schema)}.{self.qn(self.candidate.name)}"

    def _columns(self) -> str:
        return ", ".join(self.qn(name) for name, col in self.table.columns.items() if col.generated is None)

    def _move(self, source: str, target: str, condition: str = "") -> str:
        cols = self._columns()
        where = f" WHERE {condition}" if condition else ""
        return (f"WITH moved AS (DELETE FROM {source}{where} RETURNING {cols}) "
                f"INSERT INTO {target} ({cols}) SELECT {cols} FROM moved;")

    def _finding(self) -> Finding:
        t, x, c = self.qn(self.exp.name), self.qn(self.candidate.name), self.qn(self.column)
        span = (f"{self.column} from {self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M}" if self.rows
                else "no rows")
        default = next((p for p in self.table.partition_details if p.is_default), None)
        steps, notes = [], []
        if self.is_default:
            if default is not None:
                notes.append(f'the table has another DEFAULT partition ("{default.name}"): its rows move back '
                             "through the table, and the emptied copy is dropped")
                steps += [self._move(x, t), f"DROP TABLE {x};"]
                message_bounds = ""
            else:
                if self.outside:
                    notes.append(f"{self.outside} of its rows belong to month partitions that exist now: they "
                                 "move there first")
                    cond = " OR ".join(f"({c} >= '{r.start.isoformat()}' AND {c} < '{r.end.isoformat()}')"
                                       for r in self.ranges)
                    steps.append(self._move(x, t, cond))
                steps.append(f"ALTER TABLE {t} ATTACH PARTITION {x} DEFAULT;")
                message_bounds = " back as the DEFAULT partition"
        else:
            if self.start is None or self.end is None:
                raise ValueError(f"{self.candidate.name}: a monthly partition needs both bounds")
            s, e = f"'{self.start.isoformat()}'", f"'{self.end.isoformat()}'"
            in_month = f"{c} >= {s} AND {c} < {e}"
            if self.outside:
                notes.append(f"{self.outside} of its rows are outside its month: they move into the table first "
                             "(to the partition that covers them)")
                steps.append(self._move(x, t, f"NOT ({in_month})"))
            for r in self.ranges:
                if r.overlaps(self.start, self.end):
                    if self.start <= r.start and r.end <= self.end:
                        notes.append(f'partition "{r.name}" was created in its place: the rows written to it since '
                                     "move into it, and the emptied partition is dropped")
                        steps += [self._move(self.qn(r.name), x), f"DROP TABLE {self.qn(r.name)};"]
                    else:
                        notes.append(f"partition {r} overlaps its month: run `manage.py repair_partitions "
                                     f"{self.exp.name}` first")
            if default is not None:
                steps.append("-- rows of its month written since it was detached sit in the DEFAULT partition:\n"
                             + self._move(f"{self.qn(default.schema)}.{self.qn(default.name)}", x, in_month))
            steps.append(f"ALTER TABLE {t} ATTACH PARTITION {x} FOR VALUES FROM ({s}) TO ({e});")
            message_bounds = f" for [{_day(self.start)}, {_day(self.end)})"
        bounds_checked = (f"its rows are all inside [{_day(self.start)}, {_day(self.end)})"
                          if self.start is not None and self.end is not None and not self.outside else "")
        return Finding(
            "detached_partition",
            self.candidate.name,
            f'table "{self.candidate.name}" holds {self.rows} row(s) of "{self.exp.name}" ({span}) and has its '
            f"columns, but is not one of its partitions: the app cannot see those rows. It was detached (ALTER "
            f"TABLE … DETACH PARTITION); the repair attaches it back{message_bounds}, never an empty partition "
            "beside it" + (f"; checked: {bounds_checked}" if bounds_checked else "")
            + (f"; {'; '.join(notes)}" if notes else ""),
            "-- One transaction; PostgreSQL checks the bound again when it attaches:\n" + "\n".join(steps),
            self.exp.label,
        )


# --- a partitioned index built ON ONLY the table and attached for some partitions ---------------------------


def incomplete_index(exp: ExpectedTable, table: LiveTable, index: LiveIndex, qn) -> Finding | None:
    """The finding for an invalid index of a partitioned table that lacks the index on some partitions, or None."""
    if not table.partition_details or index.valid:
        return None
    missing = [p for p in table.partition_details if not any(i.attached_to == index.name for i in p.indexes)]
    if not missing:
        return None  # every partition has it: the index is invalid for another reason (REINDEX it)
    head = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ")
    wanted = head.sub("", index.definition)
    statements = []
    for part in missing:
        same = next((i for i in part.indexes if not i.attached_to and i.valid and head.sub("", i.definition) == wanted),
                    None)
        if same is not None:
            name = same.name
        else:
            name = f"{part.name}_{index.name}"
            if len(name) > 63:
                digest = hashlib.sha1(f"{part.name}.{index.name}".encode(), usedforsecurity=False).hexdigest()[:8]
                name = f"{part.name[:50]}_{digest}_idx"
            unique = "UNIQUE " if index.unique else ""
            statements.append(f"CREATE {unique}INDEX {qn(name)} ON {qn(part.schema)}.{qn(part.name)} {wanted};")
        statements.append(f"ALTER INDEX {qn(index.name)} ATTACH PARTITION {qn(name)};")
    names = ", ".join(f'"{p.name}"' for p in missing[:6]) + (" …" if len(missing) > 6 else "")
    return Finding(
        "partitioned_index_incomplete",
        f"{exp.name}.{index.name}",
        f'index "{index.name}" on "{exp.name}" is INVALID because {len(missing)} of its {len(table.partition_details)} '
        f"partitions lack it ({names}): it was created ON ONLY the table and attached for some partitions only. "
        "Queries on those partitions read without it, and REINDEX does not help: the repair builds the index on "
        "each of them and attaches it (the table's index becomes valid with the last one)",
        "-- CREATE INDEX CONCURRENTLY (outside a transaction) instead does not block writes meanwhile:\n"
        + "\n".join(statements),
        exp.label,
    )
