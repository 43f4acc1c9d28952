"""Helpers for the schema-integrity tests: drift the real test database, then put it back exactly.

Both PostgreSQL and SQLite run DDL inside transactions, so every drift is applied in `transaction.atomic()` and
rolled back at the end; the tests also assert the schema is clean again afterwards.
"""

import itertools
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

import schemacheck as schema
from schemacheck.live import read_live_schema


@contextmanager
def drifted(*statements):
    """Run DDL statements (or callables: a write through the app, a conversion), yield, then roll all of it back
    (the database is left as it was found)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            for statement in statements:
                if callable(statement):
                    statement()
                else:
                    cursor.execute(statement)
        yield
        transaction.set_rollback(True)


def live_table(name):
    return read_live_schema(connection)[name]


def sqlite_rebuild(table, transform):
    """Statements that rebuild a SQLite table with a transformed CREATE TABLE, keeping its rows and indexes.

    SQLite cannot alter a column, foreign key or check in place; this is how it is done by hand (and by Django).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL", [table])
        rows = cursor.fetchall()
        # Generated columns (hidden 2 or 3) compute themselves and cannot be inserted into.
        cursor.execute(f'PRAGMA table_xinfo("{table}")')
        columns = ", ".join(f'"{name}"' for _, name, *_, hidden in cursor.fetchall() if hidden == 0)
    create = next(sql for kind, sql in rows if kind == "table")
    indexes = [sql for kind, sql in rows if kind == "index"]
    new = transform(create).replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "new__{table}"', 1)
    assert new != create.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "new__{table}"', 1), "transform changed nothing"
    return [
        new,
        f'INSERT INTO "new__{table}" ({columns}) SELECT {columns} FROM "{table}"',
        f'DROP TABLE "{table}"',
        f'ALTER TABLE "new__{table}" RENAME TO "{table}"',
        *indexes,
    ]


def remove_sql_clause(sql, start):
    """Remove `start` and the balanced parenthesised group right after it (e.g. a named CHECK (...))."""
    at = sql.index(start)
    depth, end = 0, None
    for i in range(sql.index("(", at + len(start) - 1), len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth == 0:
            end = i + 1
            break
    return sql[:at].rstrip().rstrip(",") + sql[end:]


def findings(kind=None, obj=None):
    report = schema.check()
    return [f for f in report.findings if (kind is None or f.kind == kind) and (obj is None or f.object == obj)]


def expected_findings(report, kind, obj, message="", also=()):
    """The findings of `kind` on an object containing `obj`; asserts there is one whose message contains `message`
    and that the report holds no other kind than `kind` and `also`. Returns (hits, a summary for assertion messages)."""
    summary = "\n".join(f"{f.severity} {f.kind} {f.object}: {f.message}\n  {f.repair}" for f in report.findings)
    hits = [f for f in report.findings if f.kind == kind and obj in f.object]
    assert hits, f"expected a {kind} finding on {obj}; found:\n{summary}"
    assert any(message in f.message for f in hits), summary
    assert {f.kind for f in report.findings} <= {kind, *also}, summary
    assert all(f.repair for f in report.findings), summary
    return hits, summary


def assert_clean():
    report = schema.check()
    assert report.findings == [], "\n".join(f"{f.kind} {f.object}: {f.message}" for f in report.findings)


def camel(name):
    return re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)


def message_fk_without_cascade():
    """The message-event foreign key recreated by hand without ON DELETE CASCADE."""
    if connection.vendor == "postgresql":
        fk = next(f for f in live_table("events_messageevent").foreign_keys if f.columns == ("message_id",))
        return [
            f'ALTER TABLE events_messageevent DROP CONSTRAINT "{fk.name}"',
            'ALTER TABLE events_messageevent ADD CONSTRAINT "messageevent_message_fk_by_hand" FOREIGN KEY (message_id) '
            "REFERENCES events_message (id) DEFERRABLE INITIALLY DEFERRED",
        ]
    return sqlite_rebuild(
        "events_messageevent",
        lambda sql: sql.replace(
            'REFERENCES "events_message" ("id") ON DELETE CASCADE', 'REFERENCES "events_message" ("id")'
        ),
    )


def run_repair(text):
    """Execute a printed repair as a human would: SQL statements in order, `manage.py …` lines as commands.

    Commands run with the system checks on (`skip_checks=False`): the pre-migrate check must not block a repair
    the schema check printed."""
    import shlex

    from django.core.management import call_command

    sql: list[str] = []

    def flush():
        text = "\n".join(sql).strip()
        sql.clear()
        with connection.cursor() as cursor:
            for statement in text.split(";\n"):
                statement = statement.strip().rstrip(";").strip()
                if statement:
                    cursor.execute(statement)

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("--", "#")):
            continue
        if stripped.startswith("manage.py "):
            flush()
            command = stripped.split("#", 1)[0]
            name, *args = shlex.split(command)[1:]
            call_command(name, *args, skip_checks=False, verbosity=0)
            continue
        sql.append(line)
    flush()


def pg_fk(table, column):
    return next(f.name for f in live_table(table).foreign_keys if f.columns == (column,))


def pg_fk_sql(table, column):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", [pg_fk(table, column)]
        )
        return cursor.fetchone()[0]


# --- probes: each returns True when the application works as the model promises --------------------------


def succeeds(operation) -> bool:
    try:
        with transaction.atomic():
            operation()
            transaction.set_rollback(True)
    except Exception as exc:  # any failure of the write is the application breaking
        print(f"probe failed: {exc!r}")
        return False
    return True


_fresh = itertools.count()


@dataclass
class Probe:
    describe: str
    works: Callable[[], bool]


def write_works(describe, operation):
    """A write the model allows: succeeds on a healthy database."""
    return Probe(describe, lambda: succeeds(operation))


def bad_write_rejected(describe, operation):
    """A write the model forbids: the database rejects it when healthy."""
    return Probe(describe, lambda: not succeeds(operation))


def uses_index(describe, queryset, index):
    """The query an index exists for uses it (sequential scans discouraged, so the index is chosen when usable)."""

    def works():
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
            try:
                if connection.vendor == "postgresql":
                    # A partitioned table's plan names each partition's copy of the index.
                    cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                   "WHERE i.inhparent = to_regclass(%s)", [index])
                    plan = queryset().explain()
                    return any(name in plan for name in [index, *(n for (n,) in cursor.fetchall())])
                # SQLite: a fresh statement each time (a cached plan would outlive a DROP INDEX).
                sql, params = queryset().query.sql_with_params()
                cursor.execute(f"EXPLAIN QUERY PLAN {sql} -- {next(_fresh)}", params)
                return index in " ".join(str(row) for row in cursor.fetchall())
            finally:
                if connection.vendor == "postgresql":
                    cursor.execute("SELECT set_config('enable_seqscan', 'on', true)")

    return Probe(describe, works)
