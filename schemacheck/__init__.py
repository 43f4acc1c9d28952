"""Schema integrity: does the live database match what the code and its migrations expect?

`check(using)` returns a Report of Findings. It compares three things:

1. migration files vs the django_migrations table: unapplied migrations, inconsistent history;
2. migration files vs the model classes: model changes without a migration (the `makemigrations --check` test);
3. the live database (read from the catalogs) vs the models as the *applied* migrations built them: missing
   tables and columns, extra columns, types, nullability, collations, primary keys, indexes and unique constraints
   (matched by their whole definition), foreign keys with their ON DELETE, check constraints, sequences, and the
   monthly partitions of the tables a migration partitioned (partitions.py); the database's locale.

Each finding has a severity (findings.py): "error" when the app breaks or data is wrong or out of sight, "warning"
when the database is only stricter than the model or keeps rows where maintenance does not expect them.

Comparing (3) against the applied migrations rather than the model classes gives each drift exactly one cause:
a model change without a migration is reported once, as (2), not again as a missing column.
"""

import time

from django.db import DatabaseError, connections

from .compare import compare_tables, sequence_findings
from .expected import expected_tables
from .findings import CHECK_IDS, ERROR, WARNING, Finding, Report
from .history import MigrationHistory
from .live import read_live_schema
from .locale import locale_findings
from .partitions import PartitionCheck, expect_partitioning
from .render import render_reference

__all__ = ["CHECK_IDS", "ERROR", "WARNING", "Finding", "Report", "check"]


def check(using: str = "default") -> Report:
    started = time.perf_counter()
    connection = connections[using]
    report = Report(database=str(connection.settings_dict.get("NAME")), vendor=connection.vendor)
    try:
        connection.ensure_connection()
        history = MigrationHistory(connection)
        report.findings += history.findings()
        report.unapplied = history.unapplied
        live = read_live_schema(connection)
        lost = history.lost_records(lambda app, nodes: _app_matches(history, connection, live, app, nodes))
        state = history.applied_state(lost)
        expected = expected_tables(
            state.apps.get_models(include_auto_created=True), connection,
            history.outside_state_indexes(state.apps, _nodes(history, lost)),
        )
        expect_partitioning(expected, _nodes(history, lost), connection)

    except DatabaseError as exc:
        report.reachable = False
        report.findings.append(
            Finding(
                "database_unreachable",
                using,
                f"database {using!r} could not be read: {exc}".strip(),
                "Check DATABASE_URL, that the server is up, and the credentials.",
            )
        )
        report.seconds = time.perf_counter() - started
        return report
    def render(tables):
        return render_reference(connection, tables)

    history.plan_records(report.findings, lost)
    report.tables_checked = len(expected)
    report.findings += locale_findings(connection)
    report.findings += PartitionCheck(expected, live, connection).run()
    report.findings += compare_tables(expected, live, connection, render=render)
    report.findings += sequence_findings(expected, live, connection)
    report.seconds = time.perf_counter() - started
    return report


def _nodes(history: MigrationHistory, lost) -> set:
    return set(history.loader.applied_migrations) | {(m.app_label, m.name) for m in lost}


def _app_matches(history: MigrationHistory, connection, live, app_label: str, nodes) -> bool:
    """Whether the app's tables are exactly as the migrations `nodes` build them: nothing missing or different, and
    nothing present that only later migrations create (a table, a column, a named index)."""
    def app_tables(state_nodes):
        state = history.state_of(state_nodes).apps
        models = [m for m in state.get_models(include_auto_created=True) if m._meta.app_label == app_label]
        return expected_tables(models, connection, [o for o in history.outside_state_indexes(state, state_nodes)
                                                    if o[0]._meta.app_label == app_label])

    want = app_tables(nodes)
    if compare_tables(want, live, connection, render=lambda tables: render_reference(connection, tables)):
        return False
    for name, later in app_tables(set(history.graph.nodes)).items():
        table = live.get(name)
        if table is None:
            continue
        if name not in want:
            return False  # a table only later migrations create
        earlier = want[name]
        if set(later.columns) - set(earlier.columns) & set(table.columns):
            return False
        names = {i.name for i in table.indexes}
        if {i.name for i in later.indexes} - {i.name for i in earlier.indexes} & names:
            return False
    return True
