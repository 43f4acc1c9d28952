"""What the live database actually holds: tables, columns, indexes, foreign keys and checks.

One bulk catalog read per object kind (not Django's per-table introspection calls), so a full schema is read in a
handful of queries. Index entries keep what matching needs and Django's introspection drops: whether an index is
partial or has expressions, its operator classes, and the key columns in order with their direction.
"""

import re
from dataclasses import dataclass, field


@dataclass
class LiveIndex:
    name: str
    columns: tuple  # key columns in order; None where the key is an expression
    orders: tuple  # "ASC"/"DESC" per key column
    unique: bool
    primary: bool = False
    partial: bool = False
    expressions: bool = False
    opclasses: tuple = ()


@dataclass
class LiveForeignKey:
    name: str
    columns: tuple
    ref_table: str
    ref_columns: tuple
    on_delete: str  # "NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT"
    deferrable: bool | None = None  # None: the database does not report it (SQLite)


@dataclass
class LiveCheck:
    name: str | None
    columns: tuple
    definition: str


@dataclass
class LiveColumn:
    name: str
    type: str
    null: bool
    generates_values: bool | None = None  # PostgreSQL: identity or nextval() default; None where not read


@dataclass
class LiveTable:
    name: str
    columns: dict = field(default_factory=dict)  # name → LiveColumn, in table order
    primary_key: tuple = ()
    indexes: list = field(default_factory=list)
    foreign_keys: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    sql: str = ""  # SQLite: the CREATE TABLE statement as stored in sqlite_master


def read_live_schema(connection) -> dict[str, LiveTable]:
    if connection.vendor == "postgresql":
        return _read_postgresql(connection)
    if connection.vendor == "sqlite":
        return _read_sqlite(connection)
    raise NotImplementedError(f"check_schema supports PostgreSQL and SQLite, not {connection.vendor}.")


# --- PostgreSQL ------------------------------------------------------------------------------------------

# Tables in the schemas on the search path (what Django's connection sees), never the system catalogs.
_PG_VISIBLE = """
    c.relkind IN ('r', 'p') AND pg_catalog.pg_table_is_visible(c.oid)
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
"""

_PG_COLUMNS = f"""
    SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
        a.attidentity IN ('a', 'd') OR coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%%'
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE {_PG_VISIBLE} AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum
"""

_PG_CONSTRAINTS = f"""
    SELECT c.relname, con.conname, con.contype,
        ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
        ref.relname,
        ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
        con.confdeltype, con.condeferrable, pg_catalog.pg_get_constraintdef(con.oid)
    FROM pg_catalog.pg_constraint con
    JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_class ref ON ref.oid = con.confrelid
    WHERE {_PG_VISIBLE} AND con.contype IN ('p', 'f', 'c')
"""

# indkey/indoption/indclass are parallel vectors; only the first indnkeyatts entries are key columns (the
# rest are INCLUDE columns). attnum 0 marks an expression. Bit 1 of indoption is DESC.
_PG_INDEXES = f"""
    SELECT c.relname, i.relname, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, ix.indexprs IS NOT NULL,
        ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= ix.indnkeyatts ORDER BY k.ord),
        ARRAY(SELECT (o.opt & 1)::int FROM unnest(ix.indoption) WITH ORDINALITY o(opt, ord)
              WHERE o.ord <= ix.indnkeyatts ORDER BY o.ord),
        ARRAY(SELECT oc.opcname FROM unnest(ix.indclass) WITH ORDINALITY k(oid, ord)
              JOIN pg_catalog.pg_opclass oc ON oc.oid = k.oid WHERE k.ord <= ix.indnkeyatts ORDER BY k.ord)
    FROM pg_catalog.pg_index ix
    JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid
    JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE {_PG_VISIBLE}
"""

_PG_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _read_postgresql(connection):
    tables: dict[str, LiveTable] = {}
    with connection.cursor() as cursor:
        cursor.execute(_PG_COLUMNS)
        for table, column, type_, notnull, generates_values in cursor.fetchall():
            live = tables.setdefault(table, LiveTable(table))
            live.columns[column] = LiveColumn(column, type_, not notnull, generates_values)
        cursor.execute(_PG_CONSTRAINTS)
        for table, name, kind, columns, ref_table, ref_columns, deltype, deferrable, definition in cursor.fetchall():
            live = tables.setdefault(table, LiveTable(table))
            if kind == "p":
                live.primary_key = tuple(columns)
            elif kind == "f":
                live.foreign_keys.append(
                    LiveForeignKey(name, tuple(columns), ref_table, tuple(ref_columns), _PG_ON_DELETE[deltype], deferrable)
                )
            else:
                live.checks.append(LiveCheck(name, tuple(columns), definition))
        cursor.execute(_PG_INDEXES)
        for table, name, unique, primary, partial, expressions, columns, desc, opclasses in cursor.fetchall():
            tables.setdefault(table, LiveTable(table)).indexes.append(
                LiveIndex(
                    name,
                    tuple(columns),
                    tuple("DESC" if d else "ASC" for d in desc),
                    unique,
                    primary,
                    partial,
                    expressions,
                    tuple(opclasses),
                )
            )
    return tables


# --- SQLite ----------------------------------------------------------------------------------------------

_SQLITE_TABLES = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
# SQLite keeps a named CHECK as written in CREATE TABLE: `CONSTRAINT "name" CHECK (...)`.
_NAMED_CHECK = re.compile(r'CONSTRAINT\s+[`"\[]?(\w+)[`"\]]?\s+CHECK\s*\(', re.IGNORECASE)


def _read_sqlite(connection):
    tables: dict[str, LiveTable] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.name, m.sql FROM sqlite_master m WHERE {_SQLITE_TABLES}")
        for name, sql in cursor.fetchall():
            tables[name] = LiveTable(name, sql=sql or "")
            # Only named checks can be listed; unnamed column checks are matched on the SQL text (see compare).
            tables[name].checks = [LiveCheck(m.group(1), (), "") for m in _NAMED_CHECK.finditer(sql or "")]
        cursor.execute(
            f'SELECT m.name, p.name, p.type, p."notnull", p.pk FROM sqlite_master m, pragma_table_xinfo(m.name) p '
            f"WHERE {_SQLITE_TABLES} AND p.hidden != 1 ORDER BY m.name, p.cid"
        )
        pk = {}
        for table, column, type_, notnull, pk_position in cursor.fetchall():
            tables[table].columns[column] = LiveColumn(column, type_, not notnull)
            if pk_position:
                pk.setdefault(table, []).append((pk_position, column))
        for table, columns in pk.items():
            tables[table].primary_key = tuple(column for _, column in sorted(columns))
        cursor.execute(
            "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, x.cid, x.name, x.\"desc\" "
            "FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_xinfo(il.name) x "
            f"WHERE {_SQLITE_TABLES} AND x.key = 1 ORDER BY m.name, il.name, x.seqno"
        )
        indexes = {}
        for table, name, unique, origin, partial, cid, column, desc in cursor.fetchall():
            index = indexes.get((table, name))
            if index is None:
                index = indexes[(table, name)] = LiveIndex(name, (), (), bool(unique), origin == "pk", bool(partial))
                tables[table].indexes.append(index)
            # cid -2 is an expression key.
            index.columns += (None if cid == -2 else column,)
            index.orders += ("DESC" if desc else "ASC",)
            index.expressions = index.expressions or cid == -2
        cursor.execute(
            'SELECT m.name, f.id, f."table", f."from", f."to", f.on_delete '
            f"FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE {_SQLITE_TABLES} ORDER BY m.name, f.id, f.seq"
        )
        fks = {}
        for table, fk_id, ref_table, column, ref_column, on_delete in cursor.fetchall():
            fk = fks.get((table, fk_id))
            if fk is None:
                fk = fks[(table, fk_id)] = LiveForeignKey(None, (), ref_table, (), on_delete.upper())
                tables[table].foreign_keys.append(fk)
            fk.columns += (column,)
            fk.ref_columns += (ref_column,)
    return tables
