"""PostgreSQL renders what the models expect, so both sides of a comparison are in PostgreSQL's own words.

A check written by Django as `"status" IN ('A', 'B')` is stored as `((status)::text = ANY (...))`, and a dump and
restore re-renders it again; comparing texts from two writers gives false differences. Instead the expected tables
are created, exactly as Django's schema editor would create them, in this session's temporary schema inside a
transaction that is always rolled back, and read back with the same catalog queries as the live ones. Expressions,
predicates, generated columns and identity are then compared as PostgreSQL renders them. Nothing is left behind.
"""

from django.db import DatabaseError, transaction
from django.db.backends.ddl_references import Statement

from .expected import ExpectedTable
from .live import TEMP_NAMESPACE, LiveTable, read_postgresql


def render_reference(connection, expected: dict[str, ExpectedTable]) -> dict[str, LiveTable] | None:
    """The expected tables as PostgreSQL holds them; None where they cannot be built (a read-only standby)."""
    if connection.vendor != "postgresql" or not expected:
        return None
    statements = _statements(connection, expected)
    key = (connection.alias, connection.pg_version, tuple(s for s, _ in statements), repr([p for _, p in statements]))
    if key in _CACHE:
        return _CACHE[key]
    try:
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                # pg_temp first: unqualified CREATEs land in the temporary schema, every lookup still works.
                cursor.execute("SELECT set_config('search_path', 'pg_temp, ' || current_setting('search_path'), true)")
                for sql, params in statements:
                    cursor.execute(sql, params)
            reference = read_postgresql(connection, TEMP_NAMESPACE)
            transaction.set_rollback(True, using=connection.alias)
    except DatabaseError:
        return None
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = reference.tables
    return reference.tables


# What PostgreSQL renders depends only on the statements and the server: render each set once per process.
_CACHE: dict[tuple, dict[str, LiveTable]] = {}


def _statements(connection, expected: dict[str, ExpectedTable]) -> list[tuple[str, list | None]]:
    editor = connection.schema_editor(collect_sql=True)  # only asked for SQL; never entered
    editor.deferred_sql = []
    tables, later = [], []
    for exp in expected.values():
        sql, params = editor.table_sql(exp.model)
        tables.append((sql, params or None))
        later += editor._model_indexes_sql(exp.model)
        for index in exp.outside_state:
            later.append(index.create_sql(exp.model, editor))
    # Foreign keys are compared from the models; creating them here would only cost time.
    later += [s for s in editor.deferred_sql if not (isinstance(s, Statement) and s.template == editor.sql_create_fk)]
    return tables + [(str(s), None) for s in later if s is not None]
