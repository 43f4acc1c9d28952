"""The SQL that would make the database match the model, written by Django's own schema editor.

The editor runs in collect_sql mode and is never entered (entering it on SQLite switches foreign-key checks off on
the live connection), so nothing here touches the database. A repair is advice for a human to review: it is
printed, never executed.
"""

import re

from django.db import models


class Repairs:
    def __init__(self, connection):
        self.connection = connection
        self.qn = connection.ops.quote_name
        self.sqlite = connection.vendor == "sqlite"

    def _editor(self):
        editor = self.connection.schema_editor(collect_sql=True)
        editor.deferred_sql = []  # normally set by __enter__, which we skip
        return editor

    @staticmethod
    def _join(statements) -> str:
        return "\n".join(s.rstrip(";") + ";" for s in (str(s).strip() for s in statements) if s)

    def _collected(self, editor) -> str:
        return self._join([*editor.collected_sql, *editor.deferred_sql])

    def create_table(self, model) -> str:
        editor = self._editor()
        sql, params = editor.table_sql(model)
        if params:
            sql = sql % tuple(map(editor.quote_value, params))
        return self._join([sql, *editor.deferred_sql, *editor._model_indexes_sql(model)])

    def rebuild_table(self, model, create_field=None) -> str:
        """SQLite changes a column, foreign key or check by rebuilding the table (copy, drop, rename)."""
        editor = self._editor()
        try:
            editor._remake_table(model, create_field=create_field)
        except Exception as exc:  # the advice must never break the report
            return f"-- SQLite rebuilds the table to change this; Django could not write the SQL here ({exc})."
        return (
            "-- SQLite changes this by rebuilding the table (PRAGMA foreign_keys = OFF first, then one transaction):\n"
            + self._collected(editor)
        )

    def add_column(self, model, field) -> str:
        if self.sqlite and (not field.null or field.unique or field.primary_key or field.has_default()):
            return self.rebuild_table(model, create_field=field)
        editor = self._editor()
        editor.add_field(model, field)
        return self._collected(editor)

    def rename_column(self, table, old, new) -> str:
        return f"ALTER TABLE {self.qn(table)} RENAME COLUMN {self.qn(old)} TO {self.qn(new)};"

    def drop_column(self, table, column) -> str:
        return (
            "-- Once nothing reads it (check that no other code or migration owns it):\n"
            f"ALTER TABLE {self.qn(table)} DROP COLUMN {self.qn(column)};"
        )

    def alter_type(self, model, column, db_type) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        t, c = self.qn(model._meta.db_table), self.qn(column)
        return f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {db_type} USING {c}::{db_type};"

    def alter_null(self, model, column, null) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        action = "DROP NOT NULL" if null else "SET NOT NULL"
        return f"ALTER TABLE {self.qn(model._meta.db_table)} ALTER COLUMN {self.qn(column)} {action};"

    def primary_key(self, model, columns, live_name=None) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        table = self.qn(model._meta.db_table)
        drop = f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {self.qn(live_name)};\n" if live_name else ""
        return drop + f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(map(self.qn, columns))});"

    def create_index(self, model, expected, clashing_name=None) -> str:
        editor = self._editor()
        declaration = expected.declaration
        opts = model._meta
        if isinstance(declaration, models.Index | models.UniqueConstraint):
            statement = declaration.create_sql(model, editor)
        elif isinstance(declaration, tuple):  # unique_together
            statement = editor._create_unique_sql(model, [opts.get_field(name) for name in declaration])
        elif expected.pattern_ops:
            statement = editor._create_like_index_sql(model, declaration)
        elif expected.kind == "unique":
            statement = editor._create_unique_sql(model, [declaration])
        else:
            statement = editor._create_index_sql(model, fields=[declaration])
        sql = self._join([statement, *editor.deferred_sql])
        if clashing_name:
            drop = f"DROP INDEX IF EXISTS {self.qn(clashing_name)};"
            if not self.sqlite:
                # A unique constraint owns its index: drop the constraint when it is one.
                drop = f"ALTER TABLE {self.qn(opts.db_table)} DROP CONSTRAINT IF EXISTS {self.qn(clashing_name)};\n" + drop
            sql = f"-- An index named {clashing_name} exists with other columns:\n{drop}\n{sql}"
        return sql

    def foreign_key(self, model, field, live_name=None) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        editor = self._editor()
        statement = editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s")
        drop = (
            f"ALTER TABLE {self.qn(model._meta.db_table)} DROP CONSTRAINT {self.qn(live_name)};\n" if live_name else ""
        )
        return drop + self._join([statement])

    def make_deferrable(self, model, name) -> str:
        return (
            f"ALTER TABLE {self.qn(model._meta.db_table)} ALTER CONSTRAINT {self.qn(name)} "
            "DEFERRABLE INITIALLY DEFERRED;"
        )

    def add_check(self, model, constraint) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        return self._join([constraint.create_sql(model, self._editor())])

    def add_column_check(self, model, column, check) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        table = model._meta.db_table
        name = self.qn(re.sub(r"\W", "_", f"{table}_{column}_check")[: self.connection.ops.max_name_length()])
        return f"ALTER TABLE {self.qn(table)} ADD CONSTRAINT {name} CHECK ({check});"
