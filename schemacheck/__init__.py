"""Schema integrity: does the live database match what the code and its migrations expect?

`check(using)` returns a Report of Findings. It compares three things:

1. migration files vs the django_migrations table: unapplied migrations, inconsistent history;
2. migration files vs the model classes: model changes without a migration (the `makemigrations --check` test);
3. the live database (read from the catalogs) vs the models as the *applied* migrations built them: missing
   tables and columns, extra columns, types, nullability, primary keys, indexes and unique constraints (matched
   by columns, order and direction), foreign keys with their ON DELETE, check constraints.

Comparing (3) against the applied migrations rather than the model classes gives each drift exactly one cause:
a model change without a migration is reported once, as (2), not again as a missing column.
"""

import time

from django.db import DatabaseError, connections

from .compare import compare_tables, sequence_findings
from .expected import expected_tables
from .findings import CHECK_IDS, Finding, Report
from .history import MigrationHistory
from .live import read_live_schema
from .render import render_reference

__all__ = ["CHECK_IDS", "Finding", "Report", "check"]


def check(using: str = "default") -> Report:
    started = time.perf_counter()
    connection = connections[using]
    report = Report(database=str(connection.settings_dict.get("NAME")), vendor=connection.vendor)
    try:
        connection.ensure_connection()
        history = MigrationHistory(connection)
        report.findings += history.findings()
        report.unapplied = history.unapplied
        state = history.applied_state()
        expected = expected_tables(
            state.apps.get_models(include_auto_created=True), connection, history.outside_state_indexes(state.apps)
        )
        live = read_live_schema(connection)

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

    def at_final_state(app_label):
        final = history.loader.project_state().apps
        models = [m for m in final.get_models(include_auto_created=True) if m._meta.app_label == app_label]
        return not compare_tables(expected_tables(models, connection), live, connection, render=render)

    history.plan_records(report.findings, live, at_final_state)
    report.tables_checked = len(expected)
    report.findings += compare_tables(expected, live, connection, render=render)
    report.findings += sequence_findings(expected, live, connection)
    report.seconds = time.perf_counter() - started
    return report
