"""What the live database actually holds: tables, columns, indexes, foreign keys and checks.

One bulk catalog read per object kind (not Django's per-table introspection calls), so a full schema is read in a
handful of queries. Definitions are kept as the database renders them (PostgreSQL's pg_get_constraintdef /
pg_get_expr, SQLite's stored CREATE text), so they can be compared by meaning with what the models generate.
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
    opclasses: tuple = ()  # PostgreSQL: operator class per key column, "" where it is the type's default
    keys: tuple = ()  # each key as the database renders it (a column name or an expression)
    method: str = "btree"
    include: tuple = ()
    predicate: str = ""  # the WHERE of a partial index, as the database renders it
    valid: bool = True  # PostgreSQL: False for an INVALID or not-ready index (a failed CREATE INDEX CONCURRENTLY)
    constraint: str | None = None  # the constraint owning the index (a UNIQUE / PRIMARY KEY), if any
    deferrable: bool = False
    deferred: bool = False
    nulls_distinct: bool = True
    definition: str = ""
    attached_to: str = ""  # PostgreSQL, a partition's index: the parent's (partitioned) index it belongs to
    ready: bool = True  # PostgreSQL: maintained by writes (indisready)


@dataclass
class LiveForeignKey:
    name: str | None
    columns: tuple
    ref_table: str
    ref_columns: tuple
    on_delete: str  # "NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT"
    deferrable: bool | None = None
    deferred: bool | None = None
    ref_schema: str = ""
    validated: bool = True


@dataclass
class LiveCheck:
    name: str | None
    columns: tuple
    definition: str  # PostgreSQL: pg_get_constraintdef without NOT VALID; SQLite: the expression inside CHECK (…)
    validated: bool = True


@dataclass
class LiveColumn:
    name: str
    type: str
    null: bool
    generates_values: bool | None = None  # PostgreSQL: identity or nextval() default; None where not read
    identity: str = ""  # PostgreSQL: "a" GENERATED ALWAYS, "d" BY DEFAULT, "" none
    generated: str | None = None  # the expression of a generated (computed) column
    default: str | None = None
    sequence: str | None = None  # PostgreSQL: the sequence behind an identity or serial column
    owned_sequence: str | None = None  # PostgreSQL: a sequence owned by the column, even with no default using it
    collation: str | None = None  # a collation other than the type's default (the database's), as named


@dataclass
class LivePartition:
    """PostgreSQL: one partition, with what it holds of its own (rules its parent does not have)."""

    name: str
    bound: str  # pg_get_expr of relpartbound: "FOR VALUES FROM (…) TO (…)" or "DEFAULT"
    owner: str = ""
    row_security: bool = False
    force_row_security: bool = False
    indexes: list = field(default_factory=list)  # LiveIndex; .attached_to names the parent's index, "" if none
    checks: list = field(default_factory=list)  # LiveCheck of its own (not inherited from the parent)
    not_null: tuple = ()  # columns NOT NULL here while the parent allows NULL
    triggers: list = field(default_factory=list)  # (name, definition, before_row) of its own
    schema: str = ""

    @property
    def is_default(self) -> bool:
        return self.bound.strip().upper() == "DEFAULT"


@dataclass
class LiveTable:
    name: str
    columns: dict = field(default_factory=dict)  # name → LiveColumn, in table order
    primary_key: tuple = ()
    indexes: list = field(default_factory=list)
    foreign_keys: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    sql: str = ""  # SQLite: the CREATE TABLE statement as stored in sqlite_master
    schema: str = ""  # PostgreSQL: its schema
    visible: bool = True  # PostgreSQL: found through the search path (what Django's queries reach)
    partition_key: str = ""  # PostgreSQL: pg_get_partkeydef of a partitioned table
    partition_columns: tuple = ()
    partitions: list = field(default_factory=list)  # PostgreSQL: (name, bound) of each partition
    oid: int = 0
    owner: str = ""
    row_security: bool = False
    force_row_security: bool = False
    partition_details: list = field(default_factory=list)  # PostgreSQL: LivePartition of each partition


@dataclass
class LiveSchema:
    """Tables Django reaches by name (`tables`), and tables in schemas off the search path (`elsewhere`)."""

    tables: dict[str, LiveTable]
    elsewhere: list[LiveTable] = field(default_factory=list)
    current_schema: str = ""

    def __getitem__(self, name: str) -> LiveTable:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def get(self, name: str) -> LiveTable | None:
        return self.tables.get(name)


def read_live_schema(connection) -> LiveSchema:
    if connection.vendor == "postgresql":
        return read_postgresql(connection)
    if connection.vendor == "sqlite":
        return _read_sqlite(connection)
    raise NotImplementedError(f"check_schema supports PostgreSQL and SQLite, not {connection.vendor}.")


# --- PostgreSQL ------------------------------------------------------------------------------------------

# Every user schema (a table moved to another schema is still recognised); partitions are read with their parent.
LIVE_NAMESPACES = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%%'"
)
TEMP_NAMESPACE = "n.oid = pg_catalog.pg_my_temp_schema()"

_PG_TABLES = """
    SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {namespaces}
"""

_PG_TABLE_ROWS = """
    SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_table_is_visible(c.oid),
        CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
        ARRAY(SELECT a.attname FROM pg_catalog.pg_partitioned_table pt, unnest(pt.partattrs) k(attnum)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum WHERE pt.partrelid = c.oid),
        ARRAY(SELECT p.relname || ' ' || pg_catalog.pg_get_expr(p.relpartbound, p.oid)
              FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid
              WHERE i.inhparent = c.oid ORDER BY p.relname),
        pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid IN ({tables})
"""

_PG_COLUMNS = """
    SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
        a.attgenerated, pg_catalog.pg_get_expr(d.adbin, d.adrelid),
        CASE WHEN a.atttypid IN (20, 21, 23)
             THEN pg_catalog.pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) END,
        CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN co.collname END
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid IN ({tables}) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum
"""

_PG_CONSTRAINTS = """
    SELECT con.conrelid, con.conname, con.contype,
        ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
        rn.nspname, ref.relname,
        ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
        con.confdeltype, con.condeferrable, con.condeferred, con.convalidated,
        pg_catalog.pg_get_constraintdef(con.oid)
    FROM pg_catalog.pg_constraint con
    LEFT JOIN pg_catalog.pg_class ref ON ref.oid = con.confrelid
    LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = ref.relnamespace
    WHERE con.conrelid IN ({tables}) AND con.contype IN ('p', 'f', 'c') AND con.conparentid = 0
"""

# indkey/indoption/indclass are parallel vectors; only the first indnkeyatts entries are key columns (the
# rest are INCLUDE columns). attnum 0 marks an expression. Bit 1 of indoption is DESC.
_PG_INDEXES = """
    SELECT ix.indrelid, i.relname, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, ix.indexprs IS NOT NULL,
        ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= ix.indnkeyatts ORDER BY k.ord),
        ARRAY(SELECT (o.opt & 1)::int FROM unnest(ix.indoption) WITH ORDINALITY o(opt, ord)
              WHERE o.ord <= ix.indnkeyatts ORDER BY o.ord),
        ARRAY(SELECT CASE WHEN oc.opcdefault THEN '' ELSE oc.opcname END
              FROM unnest(ix.indclass) WITH ORDINALITY k(oid, ord)
              JOIN pg_catalog.pg_opclass oc ON oc.oid = k.oid WHERE k.ord <= ix.indnkeyatts ORDER BY k.ord),
        ARRAY(SELECT pg_catalog.pg_get_indexdef(ix.indexrelid, k, false)
              FROM generate_series(1, ix.indnkeyatts) k ORDER BY k),
        ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord > ix.indnkeyatts ORDER BY k.ord),
        am.amname, coalesce(pg_catalog.pg_get_expr(ix.indpred, ix.indrelid), ''),
        ix.indisvalid AND ix.indisready, con.conname, coalesce(con.condeferrable, false),
        coalesce(con.condeferred, false), {nulls_distinct}, pg_catalog.pg_get_indexdef(ix.indexrelid)
    FROM pg_catalog.pg_index ix
    JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid = i.relam
    LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid
        AND con.contype IN ('u', 'p', 'x')
    WHERE ix.indrelid IN ({tables})
"""

# Partitions of the tables read, and what each holds of its own: indexes (with the parent index each is attached
# to), checks not inherited, NOT NULL the parent lacks, triggers not cloned from the parent, owner, row security.
_PG_PARTITION_ROWS = """
    SELECT i.inhparent, p.oid, n.nspname, p.relname, pg_catalog.pg_get_expr(p.relpartbound, p.oid),
        pg_catalog.pg_get_userbyid(p.relowner), p.relrowsecurity, p.relforcerowsecurity
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
    WHERE i.inhparent IN ({tables}) AND p.relispartition
"""
_PARTITIONS = "SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent IN ({tables})"

_PG_PARTITION_INDEXES = """
    SELECT ix.indrelid, i.relname, ix.indisunique, ix.indisvalid AND ix.indisready, ix.indisready,
        coalesce((SELECT pi.relname FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pi ON pi.oid = h.inhparent
                  WHERE h.inhrelid = ix.indexrelid), ''),
        con.conname, pg_catalog.pg_get_indexdef(ix.indexrelid), ix.indisprimary
    FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
    LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid
        AND con.contype IN ('u', 'p', 'x')
    WHERE ix.indrelid IN ({partitions})
"""

_PG_PARTITION_CHECKS = """
    SELECT con.conrelid, con.conname, pg_catalog.pg_get_constraintdef(con.oid)
    FROM pg_catalog.pg_constraint con
    WHERE con.conrelid IN ({partitions}) AND con.contype = 'c' AND con.coninhcount = 0
"""

_PG_PARTITION_NOT_NULL = """
    SELECT a.attrelid, a.attname FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_inherits h ON h.inhrelid = a.attrelid
    JOIN pg_catalog.pg_attribute pa ON pa.attrelid = h.inhparent AND pa.attname = a.attname
    WHERE a.attrelid IN ({partitions}) AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND NOT pa.attnotnull
"""

# tgtype bit 0: FOR EACH ROW; bit 1: BEFORE. A trigger the parent has is cloned with tgparentid set.
_PG_PARTITION_TRIGGERS = """
    SELECT t.tgrelid, t.tgname, pg_catalog.pg_get_triggerdef(t.oid), (t.tgtype & 3) = 3
    FROM pg_catalog.pg_trigger t
    WHERE t.tgrelid IN ({partitions}) AND NOT t.tgisinternal AND t.tgparentid = 0
"""

_PG_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def read_postgresql(connection, namespaces: str = LIVE_NAMESPACES) -> LiveSchema:
    by_oid: dict[int, LiveTable] = {}
    tables = _PG_TABLES.format(namespaces=namespaces)
    nulls_distinct = "NOT ix.indnullsnotdistinct" if connection.pg_version >= 150000 else "true"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        current = cursor.fetchone()[0]
        cursor.execute(_PG_TABLE_ROWS.format(tables=tables))
        for oid, schema, name, visible, partkey, partcols, partitions, owner, rls, force in cursor.fetchall():
            by_oid[oid] = LiveTable(
                name,
                schema=schema,
                visible=visible,
                partition_key=partkey or "",
                partition_columns=tuple(partcols),
                partitions=[tuple(p.split(" ", 1)) for p in partitions],
                oid=oid,
                owner=owner,
                row_security=rls,
                force_row_security=force,
            )
        cursor.execute(_PG_COLUMNS.format(tables=tables))
        for oid, column, type_, notnull, identity, generated, default, owned, collation in cursor.fetchall():
            generates = bool(identity) or (default or "").startswith("nextval(")
            by_oid[oid].columns[column] = LiveColumn(
                column,
                type_,
                not notnull,
                generates,
                identity,
                default if generated else None,
                None if generated else default,
                owned if generates else None,
                owned,
                collation,
            )
        cursor.execute(_PG_CONSTRAINTS.format(tables=tables))
        for row in cursor.fetchall():
            oid, name, kind, columns, ref_schema, ref_table, ref_columns, deltype, deferrable, deferred = row[:10]
            validated, definition = row[10:]
            live = by_oid[oid]
            if kind == "p":
                live.primary_key = tuple(columns)
            elif kind == "f":
                live.foreign_keys.append(
                    LiveForeignKey(
                        name,
                        tuple(columns),
                        ref_table,
                        tuple(ref_columns),
                        _PG_ON_DELETE[deltype],
                        deferrable,
                        deferred,
                        ref_schema,
                        validated,
                    )
                )
            else:
                live.checks.append(LiveCheck(name, tuple(columns), strip_not_valid(definition), validated))
        cursor.execute(_PG_INDEXES.format(tables=tables, nulls_distinct=nulls_distinct))
        for row in cursor.fetchall():
            oid, name, unique, primary, partial, expressions, columns, desc, opclasses, keys, include = row[:11]
            method, predicate, valid, constraint, deferrable, deferred, nulls, definition = row[11:]
            by_oid[oid].indexes.append(
                LiveIndex(
                    name,
                    tuple(columns),
                    tuple("DESC" if d else "ASC" for d in desc),
                    unique,
                    primary,
                    partial,
                    expressions,
                    tuple(opclasses),
                    tuple(keys),
                    method,
                    tuple(include),
                    predicate,
                    valid,
                    constraint,
                    deferrable,
                    deferred,
                    nulls,
                    definition,
                )
            )
        if any(t.partition_key for t in by_oid.values()):
            _read_partitions(cursor, tables, by_oid)
    reached = {t.name: t for t in by_oid.values() if t.visible}
    return LiveSchema(reached, [t for t in by_oid.values() if not t.visible], current)


def _read_partitions(cursor, tables: str, by_oid: dict[int, LiveTable]) -> None:
    partitions: dict[int, LivePartition] = {}
    cursor.execute(_PG_PARTITION_ROWS.format(tables=tables))
    for parent, oid, schema, name, bound, owner, rls, force in cursor.fetchall():
        partitions[oid] = LivePartition(name, bound or "", owner, rls, force, schema=schema)
        by_oid[parent].partition_details.append(partitions[oid])
    if not partitions:
        return
    of = _PARTITIONS.format(tables=tables)
    cursor.execute(_PG_PARTITION_INDEXES.format(partitions=of))
    for oid, name, unique, valid, ready, attached, constraint, definition, primary in cursor.fetchall():
        index = LiveIndex(name, (), (), unique, primary, valid=valid, constraint=constraint, definition=definition)
        index.attached_to, index.ready = attached, ready
        partitions[oid].indexes.append(index)
    cursor.execute(_PG_PARTITION_CHECKS.format(partitions=of))
    for oid, name, definition in cursor.fetchall():
        partitions[oid].checks.append(LiveCheck(name, (), strip_not_valid(definition)))
    cursor.execute(_PG_PARTITION_NOT_NULL.format(partitions=of))
    for oid, column in cursor.fetchall():
        partitions[oid].not_null += (column,)
    cursor.execute(_PG_PARTITION_TRIGGERS.format(partitions=of))
    for oid, name, definition, before_row in cursor.fetchall():
        partitions[oid].triggers.append((name, definition, before_row))
    for table in by_oid.values():
        table.partition_details.sort(key=lambda p: p.name)


def strip_not_valid(definition: str) -> str:
    return definition[: -len(" NOT VALID")] if definition.endswith(" NOT VALID") else definition


# --- SQLite ----------------------------------------------------------------------------------------------

_SQLITE_TABLES = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
_NAME = r'(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|(\w+))'
_CONSTRAINT_NAME = re.compile(r"\s*CONSTRAINT\s+" + _NAME + r"\s*", re.IGNORECASE)
_TABLE_CONSTRAINT = re.compile(r"(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b", re.IGNORECASE)


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split SQL on a separator outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def balanced_after(text: str, at: int) -> tuple[str, int]:
    """The text inside the parenthesised group that opens at or after `at`, and the index after it."""
    start = text.index("(", at)
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return text[start + 1 :], len(text)


def _unquote(match: re.Match) -> str:
    return next(g for g in match.groups() if g is not None).replace('""', '"')


@dataclass
class SqliteColumnText:
    checks: list = field(default_factory=list)
    generated: str | None = None
    references: str = ""  # the REFERENCES … clause as written
    collation: str | None = None  # COLLATE … as written


def parse_sqlite_table(sql: str) -> tuple[dict[str, SqliteColumnText], list[LiveCheck]]:
    """Column clauses (inline CHECKs, GENERATED expression, REFERENCES) and table CHECKs from a CREATE TABLE."""
    body, _ = balanced_after(sql, 0)
    columns: dict[str, SqliteColumnText] = {}
    checks: list[LiveCheck] = []
    for part in split_top_level(body):
        named = _CONSTRAINT_NAME.match(part)
        name = _unquote(named) if named else None
        rest = part[named.end() :] if named else part
        if _TABLE_CONSTRAINT.match(rest):
            if re.match(r"CHECK\b", rest, re.IGNORECASE):
                checks.append(LiveCheck(name, (), balanced_after(rest, 0)[0].strip()))
            continue
        column = re.match(_NAME, part)
        if not column:
            continue
        text = SqliteColumnText()
        clauses = part[column.end() :]
        for found in re.finditer(r"\bCHECK\s*\(", clauses, re.IGNORECASE):
            text.checks.append(balanced_after(clauses, found.start())[0].strip())
        generated = re.search(r"\bAS\s*\(", clauses, re.IGNORECASE)
        if generated and re.search(r"\bGENERATED\b|\bAS\s*\(", clauses, re.IGNORECASE):
            text.generated = balanced_after(clauses, generated.start())[0].strip()
        collate = re.search(r"\bCOLLATE\s+" + _NAME, clauses, re.IGNORECASE)
        text.collation = _unquote(collate) if collate else None
        references = re.search(r"\bREFERENCES\b.*", clauses, re.IGNORECASE | re.DOTALL)
        text.references = references.group(0) if references else ""
        columns[_unquote(column)] = text
    return columns, checks


def _read_sqlite(connection) -> LiveSchema:
    tables: dict[str, LiveTable] = {}
    texts: dict[str, dict[str, SqliteColumnText]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.name, m.sql FROM sqlite_master m WHERE {_SQLITE_TABLES}")
        for name, sql in cursor.fetchall():
            tables[name] = LiveTable(name, sql=sql or "")
            try:
                texts[name], tables[name].checks = parse_sqlite_table(sql or "")
            except ValueError:  # not a CREATE TABLE we can read (a virtual table)
                texts[name] = {}
        cursor.execute(
            f'SELECT m.name, p.name, p.type, p."notnull", p.pk, p.hidden FROM sqlite_master m, '
            f"pragma_table_xinfo(m.name) p WHERE {_SQLITE_TABLES} AND p.hidden != 1 ORDER BY m.name, p.cid"
        )
        pk: dict[str, list] = {}
        for table, column, type_, notnull, pk_position, hidden in cursor.fetchall():
            text = texts[table].get(column) or SqliteColumnText()
            generated = text.generated if hidden in (2, 3) else None
            tables[table].columns[column] = LiveColumn(column, type_, not notnull, generated=generated,
                                                       collation=text.collation)
            # Inline column checks: matched by text against the column's expected check (see compare).
            tables[table].checks += [LiveCheck(None, (column,), check) for check in text.checks]
            if pk_position:
                pk.setdefault(table, []).append((pk_position, column))
        for table, columns in pk.items():
            tables[table].primary_key = tuple(column for _, column in sorted(columns))
        cursor.execute(
            "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, x.cid, x.name, x.\"desc\", i.sql "
            "FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_xinfo(il.name) x "
            "LEFT JOIN sqlite_master i ON i.type = 'index' AND i.name = il.name "
            f"WHERE {_SQLITE_TABLES} AND x.key = 1 ORDER BY m.name, il.name, x.seqno"
        )
        indexes: dict[tuple, LiveIndex] = {}
        for table, name, unique, origin, partial, cid, column, desc, sql in cursor.fetchall():
            index = indexes.get((table, name))
            if index is None:
                index = indexes[(table, name)] = LiveIndex(name, (), (), bool(unique), origin == "pk", bool(partial))
                index.definition = sql or ""
                index.predicate = _sqlite_predicate(sql or "")
                index.constraint = name if origin == "u" else None
                tables[table].indexes.append(index)
            # cid -2 is an expression key.
            index.columns += (None if cid == -2 else column,)
            index.orders += ("DESC" if desc else "ASC",)
            index.expressions = index.expressions or cid == -2
        for index in indexes.values():
            if index.expressions and index.definition:
                # Expression keys as written in CREATE INDEX (the pragma names no column for them).
                keys = tuple(split_top_level(balanced_after(index.definition, index.definition.upper().index(" ON "))[0]))
                index.keys = keys if len(keys) == len(index.columns) else ()
        cursor.execute(
            'SELECT m.name, f.id, f."table", f."from", f."to", f.on_delete '
            f"FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE {_SQLITE_TABLES} ORDER BY m.name, f.id, f.seq"
        )
        fks: dict[tuple, LiveForeignKey] = {}
        for table, fk_id, ref_table, column, ref_column, on_delete in cursor.fetchall():
            fk = fks.get((table, fk_id))
            if fk is None:
                fk = fks[(table, fk_id)] = LiveForeignKey(None, (), ref_table, (), on_delete.upper())
                tables[table].foreign_keys.append(fk)
            fk.columns += (column,)
            fk.ref_columns += (ref_column,)
            references = (texts[table].get(column) or SqliteColumnText()).references.upper()
            if references:  # an inline REFERENCES clause: its deferral is in the text
                fk.deferrable = "DEFERRABLE" in references and "NOT DEFERRABLE" not in references
                fk.deferred = "INITIALLY DEFERRED" in references
    return LiveSchema(tables, [], "main")


def _sqlite_predicate(sql: str) -> str:
    # The WHERE of a partial index: after the closing parenthesis of the key list.
    if not sql:
        return ""
    _, end = balanced_after(sql, sql.upper().index(" ON "))
    rest = sql[end:].strip()
    return rest[len("WHERE") :].strip() if rest.upper().startswith("WHERE") else ""
