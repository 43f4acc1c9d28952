"""What the database should hold, derived from model meta exactly as Django's schema editor would create it.

Everything here is read from models (normally the models rendered from the applied migrations), so it covers
every installed app, third-party ones included, without a list of tables to maintain.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models, router
from django.db.models import F, OrderBy
from django.db.models.deletion import DatabaseOnDelete


@dataclass
class ExpectedColumn:
    field: models.Field
    name: str
    type: str | None  # None: a type Django does not know (the column's existence is still checked)
    null: bool
    check: str | None  # an unnamed column CHECK Django adds (PositiveIntegerField >= 0, JSON_VALID on SQLite)
    collation: str | None = None  # the field's db_collation; None: the database's default


@dataclass
class ExpectedIndex:
    """An index or unique constraint, matched against the database by key columns, order and kind, not name."""

    kind: str  # "index" or "unique"
    columns: tuple
    orders: tuple
    name: str  # for messages, and to find expression indexes, which cannot be compared by columns
    source: str  # where the model declares it, e.g. 'Meta.indexes "event_project_created"'
    partial: bool = False
    expressions: bool = False
    pattern_ops: bool = False  # PostgreSQL's extra `_like` index for LIKE queries on varchar/text
    declaration: object = None  # the Index / UniqueConstraint / field(s), to write the repair SQL
    model: Any = None

    def model_columns(self, names) -> tuple:
        opts = self.model._meta
        return tuple(opts.get_field(name).column for name in names)


@dataclass
class ExpectedForeignKey:
    field: models.Field
    column: str
    ref_table: str
    ref_column: str
    on_delete: str  # what the database must say: CASCADE / SET NULL / SET DEFAULT, or NO ACTION


@dataclass
class ExpectedCheck:
    name: str
    constraint: models.BaseConstraint


@dataclass
class ExpectedTable:
    model: type[models.Model]
    name: str
    columns: dict = field(default_factory=dict)
    primary_key: tuple = ()
    indexes: list = field(default_factory=list)
    foreign_keys: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    outside_state: list = field(default_factory=list)  # indexes a migration created outside the model state
    partitioned_by: str = ""  # PostgreSQL: the column an applied migration partitioned the table by month on

    @property
    def label(self):
        return self.model._meta.label


def expected_tables(models_iter, connection, outside_state=()) -> dict[str, ExpectedTable]:
    """`outside_state`: (model, index, source) for indexes applied migrations created outside the model state."""
    tables = {}
    editor = connection.schema_editor(collect_sql=True)  # only asked what it *would* do; never entered
    for model in models_iter:
        opts = model._meta
        if not opts.managed or opts.proxy or opts.swapped:
            continue
        # The same test migrate applies: vendor/feature requirements and the database routers.
        if not opts.can_migrate(connection) or not router.allow_migrate_model(connection.alias, model):
            continue
        tables[opts.db_table] = _expected_table(model, connection, editor)
        for index in tables[opts.db_table].indexes:
            index.model = model
    for model, index, source in outside_state:
        table = tables.get(model._meta.db_table)
        if table is None:
            continue
        table.outside_state.append(index)
        columns, orders = _index_columns(index, model._meta)
        table.indexes.append(
            ExpectedIndex(
                "index",
                columns,
                orders,
                index.name,
                source,
                partial=index.condition is not None,
                expressions=bool(index.expressions),
                declaration=index,
                model=model,
            )
        )
    return tables


def _index_columns(index, opts) -> tuple[tuple, tuple]:
    if index.expressions:
        return _plain_columns(index.expressions, opts)
    columns = tuple(opts.get_field(name).column for name, _ in index.fields_orders)
    return columns, tuple(order or "ASC" for _, order in index.fields_orders)


def db_on_delete(field) -> str:
    # Django 6.1: DB_CASCADE / DB_SET_NULL / DB_SET_DEFAULT live in the database; every Python-level
    # on_delete (CASCADE, PROTECT, SET_NULL…) is emulated by the ORM, so its FK says NO ACTION.
    on_delete = field.remote_field.on_delete
    return on_delete.operation if isinstance(on_delete, DatabaseOnDelete) else "NO ACTION"


def _expected_table(model, connection, editor) -> ExpectedTable:
    opts = model._meta
    table = ExpectedTable(model, opts.db_table)
    table.primary_key = tuple(f.column for f in opts.pk_fields)
    for f in opts.local_concrete_fields:
        params = f.db_parameters(connection=connection)
        table.columns[f.column] = ExpectedColumn(
            f,
            f.column,
            params["type"],
            # Oracle-style backends store '' as NULL; Django then makes such columns nullable.
            f.null
            or (connection.features.interprets_empty_strings_as_nulls and f.empty_strings_allowed and not f.primary_key),
            params.get("check"),
            params.get("collation"),
        )
        if params["type"] is None:
            continue
        if editor._field_should_be_indexed(model, f):
            table.indexes.append(
                ExpectedIndex("index", (f.column,), ("ASC",), f"{f.column} index", f'db_index on "{f.name}"', declaration=f)
            )
        if f.unique and not f.primary_key:
            table.indexes.append(
                ExpectedIndex("unique", (f.column,), (), f"{f.column} unique", f'unique=True on "{f.name}"', declaration=f)
            )
        if connection.vendor == "postgresql" and editor._create_like_index_sql(model, f) is not None:
            table.indexes.append(
                ExpectedIndex(
                    "index",
                    (f.column,),
                    ("ASC",),
                    f"{f.column} pattern_ops index",
                    f'LIKE index Django adds for "{f.name}"',
                    pattern_ops=True,
                    declaration=f,
                )
            )
        if f.remote_field and f.db_constraint and connection.features.supports_foreign_keys:
            target = f.target_field
            table.foreign_keys.append(
                ExpectedForeignKey(f, f.column, target.model._meta.db_table, target.column, db_on_delete(f))
            )
    for fields in opts.unique_together:
        columns = tuple(opts.get_field(name).column for name in fields)
        table.indexes.append(
            ExpectedIndex("unique", columns, (), ", ".join(fields), f"unique_together {fields}", declaration=fields)
        )
    for index in opts.indexes:
        columns, orders = _index_columns(index, opts)
        table.indexes.append(
            ExpectedIndex(
                "index",
                columns,
                orders,
                index.name,
                f'Meta.indexes "{index.name}"',
                partial=index.condition is not None and connection.features.supports_partial_indexes,
                expressions=bool(index.expressions),
                declaration=index,
            )
        )
    for constraint in opts.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            expressions = bool(constraint.expressions)
            if expressions:
                columns, _ = _plain_columns(constraint.expressions, opts)
            else:
                columns = tuple(opts.get_field(name).column for name in constraint.fields)
            table.indexes.append(
                ExpectedIndex(
                    "unique",
                    columns,
                    (),
                    constraint.name,
                    f'Meta.constraints "{constraint.name}"',
                    partial=constraint.condition is not None,
                    expressions=expressions,
                    declaration=constraint,
                )
            )
        else:
            # CheckConstraint and backend-specific ones (e.g. ExclusionConstraint) are found by their name.
            table.checks.append(ExpectedCheck(constraint.name, constraint))
    return table


def _plain_columns(expressions, opts) -> tuple[tuple, tuple]:
    """Columns and directions of an expression index made only of F("x") / F("x").desc(); else ((), ())."""
    columns, orders = [], []
    for expression in expressions:
        order = "ASC"
        if isinstance(expression, OrderBy):
            order = "DESC" if expression.descending else "ASC"
            expression = expression.expression
        if not isinstance(expression, F):
            return (), ()
        try:
            columns.append(opts.get_field(getattr(expression, "name")).column)  # noqa: B009 (F's stubs lack .name)
        except FieldDoesNotExist:
            return (), ()
        orders.append(order)
    return tuple(columns), tuple(orders)
