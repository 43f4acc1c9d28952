"""The SQL that would make the database match the model, written by Django's own schema editor.

The editor runs in collect_sql mode and is never entered (entering it on SQLite switches foreign-key checks off on
the live connection), so nothing here touches the database. A repair is advice for a human to review: it is
printed, never executed. Every repair keeps the rows: a table found under another name or schema is moved back,
never recreated empty beside it, and a repair that drops data says so in its finding.
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
        referencing = sorted({
            rel.related_model._meta.db_table for rel in model._meta.related_objects
            if rel.related_model is not None and rel.field.db_constraint and rel.related_model is not model
        })
        warning = (
            f"-- Tables reference it ({', '.join(referencing)}): with foreign keys ON, dropping the old copy deletes "
            "or nulls their rows (ON DELETE). Run it outside any transaction after PRAGMA foreign_keys = OFF.\n"
            if referencing else ""
        )
        return (
            "-- SQLite changes this by rebuilding the table (PRAGMA foreign_keys = OFF first, then one transaction):\n"
            + warning + self._collected(editor)
        )

    def add_column(self, model, field) -> str:
        if self.sqlite and (not field.null or field.unique or field.primary_key or field.has_default()):
            return self.rebuild_table(model, create_field=field)
        editor = self._editor()
        editor.add_field(model, field)
        return self._collected(editor)

    def rename_column(self, table, old, new) -> str:
        return f"ALTER TABLE {self.qn(table)} RENAME COLUMN {self.qn(old)} TO {self.qn(new)};"

    def rename_table(self, found, name: str, schema: str = "") -> str:
        """Move a table found under another name and/or schema back, with its rows, indexes and constraints."""
        where = f"{self.qn(found.schema)}." if found.schema and not found.visible else ""
        statements = []
        if found.name != name:
            statements.append(f"ALTER TABLE {where}{self.qn(found.name)} RENAME TO {self.qn(name)};")
        if schema and found.schema != schema:
            statements.append(f"ALTER TABLE {where}{self.qn(name)} SET SCHEMA {self.qn(schema)};")
        return "\n".join(statements)

    def drop_column(self, model, table, column) -> str:
        head = "-- Drops the column and its data; once nothing reads it (check that no other code owns it):\n"
        t, c = self.qn(table.name), self.qn(column)
        if self.sqlite:
            sql = table.sql or ""
            # SQLite refuses to drop a column a constraint, key or check names: rebuild the table without it.
            in_constraint = any(
                column in fk.columns for fk in table.foreign_keys
            ) or column in table.primary_key or any(
                column in (i.columns or ()) for i in table.indexes if i.constraint or i.primary
            ) or re.search(rf'CHECK\s*\([^)]*"{re.escape(column)}"', sql)
            if in_constraint:
                return head + self.rebuild_table(model)
            # …and a column an index uses: drop those indexes first.
            drops = [f"DROP INDEX {self.qn(i.name)};" for i in table.indexes if column in (i.columns or ())
                     or f'"{column}"' in (i.definition or "")]
            return head + "\n".join([*drops, f"ALTER TABLE {t} DROP COLUMN {c};"])
        return head + f"ALTER TABLE {t} DROP COLUMN {c};"

    def identity_by_default(self, table, column) -> str:
        return f"ALTER TABLE {self.qn(table)} ALTER COLUMN {self.qn(column)} SET GENERATED BY DEFAULT;"

    def rebuild_generated(self, exp, column, ref) -> str:
        """A generated column's expression changes by drop and re-add (PostgreSQL 15), then its indexes again."""
        if self.sqlite:
            return self.rebuild_table(exp.model)
        field = exp.columns[column].field
        editor = self._editor()
        editor.add_field(exp.model, field)
        statements = [f"ALTER TABLE {self.qn(exp.name)} DROP COLUMN {self.qn(column)};", self._collected(editor)]
        statements.extend(
            self.create_rendered_index(exp.name, index, None)
            for index in (ref.indexes if ref is not None else ())
            if column in index.columns or column in index.include
        )
        return "\n".join(statements)

    def restore_sequence_default(self, table, column, sequence) -> str:
        """The column's own sequence as its default again, moved past the largest id only if it is behind."""
        t, c = self.qn(table), self.qn(column)
        return (
            f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT nextval('{sequence}'::regclass);\n"
            f"SELECT setval('{sequence}', x.m) FROM (SELECT max({c}) AS m FROM {t}) x, {sequence} s "
            "WHERE x.m >= s.last_value + CASE WHEN s.is_called THEN 1 ELSE 0 END;"
        )

    def alter_collation(self, model, column, db_type, collation) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        name = self.qn(collation) if collation else '"default"'
        return (
            "-- Rebuilds the indexes on the column:\n"
            f"ALTER TABLE {self.qn(model._meta.db_table)} ALTER COLUMN {self.qn(column)} TYPE {db_type} COLLATE {name};"
        )

    def move_sequence(self, table, column, sequence) -> str:
        return f"SELECT setval('{sequence}', (SELECT max({self.qn(column)}) FROM {self.qn(table)}));"

    def reindex(self, name) -> str:
        return (
            "-- Rebuilds it (blocks writes to the table meanwhile; REINDEX INDEX CONCURRENTLY outside a transaction "
            "does not):\n"
            f"REINDEX INDEX {self.qn(name)};"
        )

    def create_rendered_index(self, table, index, clash) -> str:
        """The definition PostgreSQL rendered for the expected index, pointed at the live table."""
        definition = re.sub(r" ON (ONLY )?pg_temp(_\d+)?\.", " ON ", index.definition)
        statements = [self.drop_index(table, clash)] if clash is not None else []
        statements.append(definition + ";")
        if index.constraint:
            deferral = " DEFERRABLE" + (" INITIALLY DEFERRED" if index.deferred else "") if index.deferrable else ""
            statements.append(
                f"ALTER TABLE {self.qn(table)} ADD CONSTRAINT {self.qn(index.constraint)} "
                f"UNIQUE USING INDEX {self.qn(index.name)}{deferral};"
            )
        return "\n".join(statements)

    def drop_index(self, table, index, model=None) -> str:
        if index.constraint and not self.sqlite:
            return f"ALTER TABLE {self.qn(table)} DROP CONSTRAINT {self.qn(index.constraint)};"
        if index.constraint and model is not None:  # SQLite: a UNIQUE written in CREATE TABLE goes with a rebuild
            return self.rebuild_table(model)
        return f"DROP INDEX {self.qn(index.name)};"

    def validate_check(self, table, check) -> str:
        return (
            f"-- Fails while rows break it; find them: SELECT * FROM {self.qn(table)} WHERE NOT {check.definition[6:]};\n"
            f"ALTER TABLE {self.qn(table)} VALIDATE CONSTRAINT {self.qn(check.name)};"
        )

    def replace_check(self, table, live_name, name, definition) -> str:
        t = self.qn(table)
        statements = [
            f"-- Fails while rows break it; find them: SELECT * FROM {t} WHERE NOT {definition[6:]};",
        ]
        if live_name:
            statements.append(f"ALTER TABLE {t} DROP CONSTRAINT {self.qn(live_name)};")
        statements.append(f"ALTER TABLE {t} ADD CONSTRAINT {self.qn(name)} {definition};")
        return "\n".join(statements)

    def drop_check(self, table, name) -> str:
        return f"ALTER TABLE {self.qn(table)} DROP CONSTRAINT {self.qn(name)};"

    def validate_fk(self, table, column, ref_table, ref_column, name, orphans=0, nullable=False) -> str:
        if not orphans:
            return f"ALTER TABLE {self.qn(table)} VALIDATE CONSTRAINT {self.qn(name)};"
        target = f"{table}.{column}"
        listing = (f"-- manage.py repair_orphans {target} lists them (and changes nothing). Choose what happens to "
                   "them; the command then validates the key, in one transaction:")
        if nullable:
            return (f"{listing}\nmanage.py repair_orphans {target} --set-null\n"
                    f"# or, to delete those rows instead: manage.py repair_orphans {target} --delete")
        return (f"{listing} ({column} is NOT NULL: they can only be deleted; copy them out first if they matter)\n"
                f"manage.py repair_orphans {target} --delete")

    def _orphans(self, table, column, ref_table, ref_column) -> str:
        t, c, r, rc = self.qn(table), self.qn(column), self.qn(ref_table), self.qn(ref_column)
        return (
            f"-- Fails while rows point nowhere; find them: SELECT * FROM {t} WHERE {c} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {r} WHERE {r}.{rc} = {t}.{c});"
        )

    def index_parts(self, model, expected) -> dict:
        """The WHERE and key list Django writes for a declared index or unique constraint (empty for field ones)."""
        declaration = expected.declaration
        if not hasattr(declaration, "create_sql"):
            return {}
        try:
            statement = declaration.create_sql(model, self._editor())
        except (ValueError, TypeError, AttributeError):
            return {}
        if statement is None or not hasattr(statement, "parts"):
            return {}
        condition = str(statement.parts.get("condition") or "").strip()
        parts = {"predicate": condition[len("WHERE") :].strip() if condition.upper().startswith("WHERE") else None}
        if getattr(declaration, "expressions", None):
            parts["keys"] = str(statement.parts.get("columns") or "")
        return parts

    def alter_type(self, model, column, db_type) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
        t, c = self.qn(model._meta.db_table), self.qn(column)
        return f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {db_type} USING {c}::{db_type};"

    def add_identity(self, table, column) -> str:
        t, c = self.qn(table), self.qn(column)
        return (
            f"ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED BY DEFAULT AS IDENTITY;\n"
            f"SELECT setval(pg_get_serial_sequence('{t}', '{column}'), coalesce(max({c}), 0) + 1, false) FROM {t};"
        )

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

    def foreign_key(self, model, field, live_name=None, check_orphans=None) -> str:
        orphans = self._orphans(*check_orphans) + "\n" if check_orphans else ""
        if self.sqlite:
            return orphans + self.rebuild_table(model)
        editor = self._editor()
        statement = editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s")
        drop = (
            f"ALTER TABLE {self.qn(model._meta.db_table)} DROP CONSTRAINT {self.qn(live_name)};\n" if live_name else ""
        )
        return orphans + drop + self._join([statement])

    def make_deferrable(self, model, name) -> str:
        if self.sqlite:
            return self.rebuild_table(model)
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
