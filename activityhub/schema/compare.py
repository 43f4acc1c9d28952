"""Compare the expected tables (from models) with the live ones (from the catalogs) and describe each difference."""

import re
from dataclasses import replace

from django.db.models.fields import AutoFieldMixin

from .expected import ExpectedIndex, ExpectedTable
from .findings import Finding
from .live import LiveIndex, LiveTable
from .repair import Repairs


def normalize_type(db_type: str) -> str:
    """One spelling per type: PostgreSQL's format_type says `character varying(32)`, Django says `varchar(32)`."""
    t = re.sub(r"\s+", " ", db_type.strip().lower())
    t = re.sub(r"\s*([(),])\s*", r"\1", t)
    for long, short in (
        ("character varying", "varchar"),
        ("timestamp without time zone", "timestamp"),
        ("time without time zone", "time"),
        ("character(", "char("),
    ):
        t = t.replace(long, short)
    return t


def normalize_check(sql: str) -> str:
    # Compare checks on their words and operators only: catalogs re-quote and re-parenthesise what Django wrote.
    return re.sub(r"[\s\"'`()\[\]]", "", sql.lower())


def compare_tables(expected: dict[str, ExpectedTable], live: dict[str, LiveTable], connection) -> list[Finding]:
    repairs = Repairs(connection)
    findings = []
    for name, exp in expected.items():
        table = live.get(name)
        if table is None:
            findings.append(
                Finding(
                    "missing_table",
                    name,
                    f'table "{name}" of model {exp.label} does not exist in the database',
                    repairs.create_table(exp.model),
                    exp.label,
                )
            )
            continue
        renames: dict[str, str] = {}
        findings += _compare_columns(exp, table, repairs, renames)
        if renames:
            # Judge indexes and keys as they will be once the renames are repaired: one cause, one finding.
            table = _with_renamed_columns(table, renames)
        findings += _compare_primary_key(exp, table, repairs)
        findings += _compare_indexes(exp, table, repairs, connection)
        findings += _compare_foreign_keys(exp, table, repairs, connection)
        findings += _compare_checks(exp, table, repairs, connection)
    return findings


def _squash(column: str) -> str:
    return column.replace("_", "").lower()


def _with_renamed_columns(table: LiveTable, renames: dict) -> LiveTable:
    def cols(columns):
        return tuple(renames.get(c, c) for c in columns)

    return replace(
        table,
        primary_key=cols(table.primary_key),
        indexes=[replace(i, columns=cols(i.columns)) for i in table.indexes],
        foreign_keys=[replace(f, columns=cols(f.columns)) for f in table.foreign_keys],
    )


def _compare_columns(exp: ExpectedTable, table: LiveTable, repairs: Repairs, renames: dict):
    t = exp.name
    missing = [c for c in exp.columns if c not in table.columns]
    extra = [c for c in table.columns if c not in exp.columns]
    for column in missing:
        col = exp.columns[column]
        # Prisma's P2022 incident: `createdAt` where the model says `created_at` is a rename, not a loss.
        lookalike = next((e for e in extra if _squash(e) == _squash(column)), None)
        if lookalike:
            extra.remove(lookalike)
            renames[lookalike] = column
            yield Finding(
                "renamed_column",
                f"{t}.{column}",
                f'column "{t}"."{column}" ({exp.label}.{col.field.name}) is missing; the table has "{lookalike}" '
                "instead, the same name in another spelling",
                repairs.rename_column(t, lookalike, column),
                exp.label,
            )
        else:
            yield Finding(
                "missing_column",
                f"{t}.{column}",
                f'column "{t}"."{column}" ({exp.label}.{col.field.name}) does not exist in the database',
                repairs.add_column(exp.model, col.field),
                exp.label,
            )
    for column in extra:
        live = table.columns[column]
        consequence = "" if live.null else "; it is NOT NULL, so inserts from Django will fail unless it has a default"
        yield Finding(
            "extra_column",
            f"{t}.{column}",
            f'column "{t}"."{column}" exists in the database but not in model {exp.label}{consequence}',
            repairs.drop_column(t, column),
            exp.label,
        )
    for column, col in exp.columns.items():
        live = table.columns.get(column)
        if live is None:
            continue
        if col.type is not None and normalize_type(col.type) != normalize_type(live.type):
            yield Finding(
                "column_type",
                f"{t}.{column}",
                f'column "{t}"."{column}" is {live.type} in the database; {exp.label}.{col.field.name} '
                f"expects {col.type}",
                repairs.alter_type(exp.model, column, col.type),
                exp.label,
            )
        field_name = col.field.name  # before the isinstance below narrows col.field to a mixin without .name
        if isinstance(col.field, AutoFieldMixin) and live.generates_values is False:
            yield Finding(
                "missing_identity",
                f"{t}.{column}",
                f'column "{t}"."{column}" ({exp.label}.{field_name}) generates no values (no identity, no '
                "sequence): every insert from Django will fail",
                repairs.add_identity(t, column),
                exp.label,
            )
        # Django writes no NULL/NOT NULL for generated columns: the expression decides.
        if col.null != live.null and not col.field.generated:
            yield Finding(
                "column_null",
                f"{t}.{column}",
                f'column "{t}"."{column}" is {"NULL" if live.null else "NOT NULL"} in the database; '
                f"{exp.label}.{col.field.name} expects {'NULL' if col.null else 'NOT NULL'}",
                repairs.alter_null(exp.model, column, col.null),
                exp.label,
            )


def _compare_primary_key(exp: ExpectedTable, table: LiveTable, repairs: Repairs):
    if exp.primary_key and tuple(exp.primary_key) != tuple(table.primary_key):
        live_pk = next((i.name for i in table.indexes if i.primary), None)
        have = ", ".join(table.primary_key) or "none"
        yield Finding(
            "primary_key",
            exp.name,
            f'primary key of "{exp.name}" is ({have}); {exp.label} expects ({", ".join(exp.primary_key)})',
            repairs.primary_key(exp.model, exp.primary_key, live_pk if table.primary_key else None),
            exp.label,
        )


def _index_matches(expected: ExpectedIndex, live: LiveIndex, postgresql: bool) -> bool:
    if expected.expressions:
        # Expressions cannot be compared portably (each database re-renders them): find these by name, or by
        # columns when they are plain F() references (a partial flag may depend on the backend, so not compared).
        if live.name == expected.name:
            return True
        return bool(expected.columns) and live.columns == expected.columns and live.orders == expected.orders
    if live.expressions or live.columns != expected.columns or live.partial != expected.partial:
        return False
    if expected.kind == "unique":
        return live.unique
    if live.unique or live.primary:
        return False
    if expected.orders and live.orders != expected.orders:
        return False
    if postgresql:
        declared = getattr(expected.declaration, "opclasses", None)
        if declared:
            return tuple(live.opclasses) == tuple(declared)
        pattern = any(o.endswith("_pattern_ops") for o in live.opclasses)
        return pattern == expected.pattern_ops
    return True


def _describe_index(expected: ExpectedIndex) -> str:
    if expected.expressions and not expected.columns:
        return f'"{expected.name}" (an expression index, looked up by name)'
    parts = [
        f"{c} DESC" if o == "DESC" else c
        for c, o in zip(expected.columns, expected.orders or ("ASC",) * len(expected.columns), strict=True)
    ]
    return f"({', '.join(parts)}){' with a condition' if expected.partial else ''}"


def _compare_indexes(exp: ExpectedTable, table: LiveTable, repairs: Repairs, connection):
    postgresql = connection.vendor == "postgresql"
    for expected in exp.indexes:
        if any(_index_matches(expected, live, postgresql) for live in table.indexes):
            continue
        clash = next((i.name for i in table.indexes if i.name == expected.name), None)
        what = "unique constraint" if expected.kind == "unique" else "index"
        yield Finding(
            "missing_unique" if expected.kind == "unique" else "missing_index",
            f"{exp.name}.{expected.name}",
            f'{what} "{expected.name}" on "{exp.name}" {_describe_index(expected)} is missing '
            f"({expected.source} of {exp.label}); no index in the database has these columns in this order",
            repairs.create_index(exp.model, expected, clashing_name=clash),
            exp.label,
        )


def _compare_foreign_keys(exp: ExpectedTable, table: LiveTable, repairs: Repairs, connection):
    for fk in exp.foreign_keys:
        obj = f"{exp.name}.{fk.column}"
        target = f'"{fk.ref_table}"("{fk.ref_column}")'
        live = next((f for f in table.foreign_keys if f.columns == (fk.column,)), None)
        if live is None:
            yield Finding(
                "missing_fk",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" → {target} ({exp.label}.{fk.field.name}) does not exist: '
                "the database accepts rows pointing nowhere",
                repairs.foreign_key(exp.model, fk.field),
                exp.label,
            )
            continue
        if (live.ref_table, live.ref_columns) != (fk.ref_table, (fk.ref_column,)):
            yield Finding(
                "fk_target",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" references "{live.ref_table}"'
                f'({", ".join(live.ref_columns)}); {exp.label}.{fk.field.name} expects {target}',
                repairs.foreign_key(exp.model, fk.field, live.name),
                exp.label,
            )
        if live.on_delete != fk.on_delete:
            declared = getattr(fk.field.remote_field.on_delete, "__name__", str(fk.field.remote_field.on_delete))
            yield Finding(
                "fk_on_delete",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" → {target} says ON DELETE {live.on_delete} in the database; '
                f"{exp.label}.{fk.field.name} has on_delete={declared}, which needs ON DELETE {fk.on_delete}",
                repairs.foreign_key(exp.model, fk.field, live.name),
                exp.label,
            )
        if live.deferrable is False and connection.features.can_defer_constraint_checks:
            yield Finding(
                "fk_not_deferrable",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" is not DEFERRABLE INITIALLY DEFERRED, which Django '
                "relies on to write related rows in any order within a transaction",
                repairs.make_deferrable(exp.model, live.name),
                exp.label,
            )


def _compare_checks(exp: ExpectedTable, table: LiveTable, repairs: Repairs, connection):
    live_names = {c.name for c in table.checks}
    for check in exp.checks:
        if check.name not in live_names:
            yield Finding(
                "missing_check",
                f"{exp.name}.{check.name}",
                f'check constraint "{check.name}" on "{exp.name}" ({exp.label}) does not exist in the database',
                repairs.add_check(exp.model, check.constraint),
                exp.label,
            )
    # Column checks Django writes without a name (PositiveIntegerField's ">= 0", SQLite's JSON_VALID) are
    # found by their text: in pg_constraint on PostgreSQL, in the stored CREATE TABLE on SQLite.
    if connection.vendor == "sqlite":
        haystacks = [normalize_check(table.sql)]
    else:
        haystacks = [normalize_check(c.definition) for c in table.checks]
    for column, col in exp.columns.items():
        if not col.check or column not in table.columns:
            continue
        needle = "check" + normalize_check(col.check)
        if not any(needle in h for h in haystacks):
            yield Finding(
                "missing_check",
                f"{exp.name}.{column}",
                f'check ({col.check}) on column "{exp.name}"."{column}" ({exp.label}.{col.field.name}) does not '
                "exist in the database",
                repairs.add_column_check(exp.model, column, col.check),
                exp.label,
            )
