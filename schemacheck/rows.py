"""The few row reads the check makes, only where a finding needs them to write a safe repair.

Duplicates behind an INVALID unique index (its rebuild fails until they are resolved) and rows a NOT VALID foreign
key would reject (VALIDATE fails while they exist). Each read is bounded to a sample and a count.
"""

from dataclasses import dataclass

SAMPLE = 5


@dataclass
class Duplicates:
    groups: int
    sample: list  # (values, count) of the largest groups
    query: str

    @property
    def summary(self) -> str:
        shown = "; ".join(f"({values}) ×{count}" for values, count in self.sample)
        more = f" and {self.groups - len(self.sample)} more" if self.groups > len(self.sample) else ""
        return f"{self.groups} value(s) appear more than once: {shown}{more}"

    @property
    def advice(self) -> str:
        return (f"-- Resolve the duplicates first (keep one row of each, delete or change the others); all of them:\n"
                f"-- {self.query};")


def duplicates(connection, table, index) -> Duplicates | None:
    """The key values an INVALID unique index would reject, or None (no duplicates, or keys we cannot name)."""
    if connection.vendor != "postgresql" or not index.columns or None in index.columns:
        return None
    qn = connection.ops.quote_name
    cols = [qn(c) for c in index.columns]
    conditions = [f"{c} IS NOT NULL" for c in cols] if index.nulls_distinct else []
    if index.predicate:
        conditions.append(f"({index.predicate})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    source = f"{qn(table.schema)}.{qn(table.name)}" if table.schema else qn(table.name)
    query = (f"SELECT {', '.join(cols)}, count(*) AS copies FROM {source}{where} GROUP BY {', '.join(cols)} "
             "HAVING count(*) > 1")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT *, count(*) OVER () FROM ({query}) d ORDER BY copies DESC LIMIT {SAMPLE}")
        rows = cursor.fetchall()
    if not rows:
        return None
    sample = [(", ".join(f"{c}={v!r}" for c, v in zip(index.columns, row[:-2], strict=True)), row[-2]) for row in rows]
    return Duplicates(rows[0][-1], sample, query)


@dataclass
class Orphans:
    count: int
    sample: list  # primary keys of the first few
    query: str


def pk_column(model) -> str:
    """The column of a concrete model's primary key (every concrete model has one)."""
    column = model._meta.pk.column if model._meta.pk is not None else None
    if column is None:
        raise ValueError(f"{model._meta.label} has no primary key column")
    return column


def orphans(connection, table: str, pk: str, column: str, ref_table: str, ref_column: str) -> Orphans:
    """Rows of `table` whose `column` points at no `ref_table` row."""
    qn = connection.ops.quote_name
    t, c, r, rc = qn(table), qn(column), qn(ref_table), qn(ref_column)
    query = f"SELECT {qn(pk)} FROM {t} WHERE {c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r} WHERE {r}.{rc} = {t}.{c})"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT o.*, count(*) OVER () FROM ({query}) o ORDER BY 1 LIMIT {SAMPLE}")
        rows = cursor.fetchall()
    return Orphans(rows[0][-1] if rows else 0, [row[0] for row in rows], query)
