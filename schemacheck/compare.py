"""Compare the expected tables (from models) with the live ones (from the catalogs) and describe each difference.

Objects are matched by what they mean, never by name: an index by its whole definition, a check by its expression
(on PostgreSQL both sides rendered by PostgreSQL itself, see render.py), a foreign key by its column. A name only
pairs an expected object with the live one it was meant to be, so a message can say what was found instead.
"""

import re
from dataclasses import replace

from django.db.models.fields import AutoFieldMixin

from .expected import ExpectedIndex, ExpectedTable
from .findings import ERROR, WARNING, Finding
from .live import LiveCheck, LiveIndex, LiveSchema, LiveTable, balanced_after
from .partitions import incomplete_index
from .repair import Repairs
from .rows import duplicates as find_duplicates
from .rows import orphans, pk_column


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


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def normalize_check(sql: str) -> str:
    """An expression in one spelling: identifiers unquoted, no spaces, keywords lower case (literals kept as written)."""
    out, last = [], 0
    for m in _LITERAL.finditer(sql):
        out.append(re.sub(r"[\s\"`\[\]]", "", sql[last : m.start()]).lower())
        out.append(m.group(0))
        last = m.end()
    out.append(re.sub(r"[\s\"`\[\]]", "", sql[last:]).lower())
    text = "".join(out)
    if text.startswith("check("):
        text = text[len("check") :]
    while text.startswith("(") and text.endswith(")") and balanced_after(text, 0)[1] == len(text):
        text = text[1:-1]
    return text


def plain_text(sql: str) -> str:
    """normalize_check, also without PostgreSQL's casts and its `= ANY (ARRAY[…])` for IN: a fast first look only.

    Used to skip rendering when the texts already agree; a difference found this way is decided by PostgreSQL."""
    text = normalize_check(re.sub(r"\bARRAY\[", "ARRAY(", sql).replace("])", "))"))
    text = re.sub(r"::[a-z_]+(?:\(\d+\))?(?:\[\])?", "", text)
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"\(([a-z_][a-z0-9_]*|'(?:[^']|'')*'|-?\d+)\)", r"\1", text)
        text = re.sub(r"=any\(array\(", "in((", text)
        text = re.sub(r"in\(\((.*?)\)\)", r"in(\1)", text)
    while text.startswith("(") and text.endswith(")") and balanced_after(text, 0)[1] == len(text):
        text = text[1:-1]
    return text


def choice_list(definition: str) -> tuple[str, frozenset] | None:
    """(the check with its literals taken out, the literals) for `x IN (…)` / `x = ANY (ARRAY[…])` checks.

    PostgreSQL writes one IN list three ways (Django's text, its first rendering, and the rendering of a restore,
    which moves the cast into each element); without literals, casts and parentheses they read the same."""
    if not re.search(r"\bIN\s*\(|= ANY \(", definition, re.IGNORECASE):
        return None
    values = frozenset(m.group(0)[1:-1].replace("''", "'") for m in _LITERAL.finditer(definition))
    skeleton = re.sub(r"[()]", "", plain_text(_LITERAL.sub("?", definition)))
    skeleton = re.sub(r"=anyarray", "in", skeleton)
    return re.sub(r"\?(,\?)*", "?", skeleton), values


def same_check(expected: str, live: str) -> bool:
    if normalize_check(expected) == normalize_check(live):
        return True
    a, b = choice_list(expected), choice_list(live)
    return a is not None and a == b


def _pg_ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def compare_tables(expected: dict[str, ExpectedTable], live, connection, reference=None, render=None) -> list[Finding]:
    """`render(tables)` (PostgreSQL) returns the rendered reference of the tables asked for; see render.py.

    Indexes, checks and generated columns are first compared as text, normalised. Where that finds a difference on
    PostgreSQL, PostgreSQL decides: the table's expected objects are rendered and compared as PostgreSQL writes them
    (a restore re-renders expressions; text alone would call that drift). Clean tables cost no rendering.
    """
    if not isinstance(live, LiveSchema):
        live = LiveSchema(dict(live))
    repairs = Repairs(connection)
    postgresql = connection.vendor == "postgresql"
    per_table: dict[str, tuple[list, list]] = {}
    suspects: dict[str, ExpectedTable] = {}
    claimed: set[int] = set()
    live_after: dict[str, LiveTable] = {}
    renamed: dict[str, str] = {}  # live name → expected name, for tables recognised under another name
    for name, exp in expected.items():
        if live.get(name) is None:
            finding = _missing_table(exp, live, expected, repairs, claimed)
            per_table[name] = ([finding], [])
            if finding.kind == "renamed_table":
                renamed[finding.found] = name
    for name, exp in expected.items():
        table = live.get(name)
        ref = reference.get(name) if reference else None
        if table is None:
            continue
        table = replace(table, foreign_keys=[
            replace(f, ref_table=renamed[f.ref_table], ref_schema=_schema_of(live, renamed[f.ref_table], f.ref_schema))
            if f.ref_table in renamed else f for f in table.foreign_keys
        ]) if renamed else table
        renames: dict[str, str] = {}
        other = list(_compare_columns(exp, table, repairs, renames))
        if renames:
            # Judge indexes and keys as they will be once the renames are repaired: one cause, one finding.
            table = _with_renamed_columns(table, renames)
        live_after[name] = table
        other += _compare_primary_key(exp, table, repairs)
        other += _compare_foreign_keys(exp, table, live, repairs, connection)
        if ref is not None:
            shape = _rendered_shape(exp, table, ref, repairs)
        else:
            shape = _text_shape(exp, table, repairs, connection)
            if shape and postgresql and render is not None:
                suspects[name] = exp
        per_table[name] = (other, shape)
    if suspects:
        rendered = render(suspects) or {}
        for name, exp in suspects.items():
            if name in rendered:
                shape = _rendered_shape(exp, live_after[name], rendered[name], repairs)
            else:  # PostgreSQL could not render (a read-only standby): only what text can tell for certain
                shape = [*_compare_indexes(exp, live_after[name], repairs, connection, by_text=False),
                         *_compare_checks_by_name(exp, live_after[name], repairs)]
            per_table[name] = (per_table[name][0], shape)
    return [f for other, shape in per_table.values() for f in (*other, *shape)]


def _rendered_shape(exp: ExpectedTable, table: LiveTable, ref: LiveTable, repairs: Repairs) -> list[Finding]:
    found = []
    for column, col in exp.columns.items():
        if col.field.generated and column in table.columns:
            found += _compare_generated(exp, table, ref, column, repairs, "postgresql")
    found += _compare_indexes_rendered(exp, table, ref, repairs)
    found += _compare_checks_rendered(exp, table, ref, repairs)
    return found


def _text_shape(exp: ExpectedTable, table: LiveTable, repairs: Repairs, connection) -> list[Finding]:
    found = []
    for column, col in exp.columns.items():
        if col.field.generated and column in table.columns:
            found += _compare_generated(exp, table, None, column, repairs, connection.vendor)
    found += _compare_indexes(exp, table, repairs, connection)
    found += _compare_checks_text(exp, table, repairs, connection.vendor)
    return found


# --- tables ----------------------------------------------------------------------------------------------


def _schema_of(live: LiveSchema, name: str, default: str) -> str:
    table = live.get(name)
    return table.schema if table is not None else (live.current_schema or default)


def _missing_table(exp: ExpectedTable, live: LiveSchema, expected, repairs: Repairs, claimed: set) -> Finding:
    wanted = set(exp.columns)
    scored = []
    for candidate in [*live.tables.values(), *live.elsewhere]:
        if id(candidate) in claimed or (candidate.visible and candidate.name in expected):
            continue
        have = set(candidate.columns)
        overlap = len(wanted & have) / len(wanted | have) if wanted | have else 0
        if overlap >= 0.8 and _widened_by_partitioning(exp.primary_key, candidate.primary_key, candidate):
            scored.append((candidate.name == exp.name, overlap, candidate))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    if scored and (len(scored) == 1 or scored[0][:2] != scored[1][:2]):
        found = scored[0][2]
        claimed.add(id(found))
        where = f'"{found.schema}"."{found.name}"' if found.schema else f'"{found.name}"'
        moved = bool(found.schema) and not found.visible
        what = "moved to another schema" if found.name == exp.name else "renamed"
        if moved and found.name != exp.name:
            what = "renamed and moved to another schema"
        finding = Finding(
            "renamed_table",
            exp.name,
            f'table "{exp.name}" of model {exp.label} is missing; {where} has its columns and primary key: it was '
            f"{what} (the repair moves it back with its rows, indexes and constraints)",
            repairs.rename_table(found, exp.name, live.current_schema if moved else ""),
            exp.label,
        )
        finding.found = found.name
        return finding
    if scored:
        names = ", ".join(f'"{s[2].schema or "main"}"."{s[2].name}"' for s in scored[:4])
        return Finding(
            "missing_table",
            exp.name,
            f'table "{exp.name}" of model {exp.label} does not exist; several tables have its columns ({names}): '
            "one of them probably holds its rows",
            f"-- Rename the one that holds the data: ALTER TABLE <it> RENAME TO {repairs.qn(exp.name)};",
            exp.label,
        )
    return Finding(
        "missing_table",
        exp.name,
        f'table "{exp.name}" of model {exp.label} does not exist in the database (no other table has its columns)',
        repairs.create_table(exp.model),
        exp.label,
    )


def _squash(column: str) -> str:
    return column.replace("_", "").lower()


def _with_renamed_columns(table: LiveTable, renames: dict) -> LiveTable:
    def cols(columns):
        return tuple(renames.get(c, c) for c in columns)

    def text(sql):
        for old, new in renames.items():
            sql = sql.replace(_pg_ident(old), _pg_ident(new)).replace(f'"{old}"', f'"{new}"')
        return sql

    return replace(
        table,
        columns={renames.get(name, name): replace(c, name=renames.get(name, name)) for name, c in table.columns.items()},
        primary_key=cols(table.primary_key),
        indexes=[
            replace(i, columns=cols(i.columns), keys=tuple(map(text, i.keys)), include=cols(i.include),
                    predicate=text(i.predicate))
            for i in table.indexes
        ],
        foreign_keys=[replace(f, columns=cols(f.columns)) for f in table.foreign_keys],
        checks=[replace(c, columns=cols(c.columns), definition=text(c.definition)) for c in table.checks],
        partition_columns=cols(table.partition_columns),
    )


# --- columns ---------------------------------------------------------------------------------------------


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
        breaks = not live.null and live.default is None and live.generated is None
        consequence = ("; it is NOT NULL with no default, so every insert from Django fails" if breaks else
                       "; it is NOT NULL with a default, which Django's inserts get" if not live.null else "")
        yield Finding(
            "extra_column",
            f"{t}.{column}",
            f'column "{t}"."{column}" ({live.type}) exists in the database but not in model {exp.label}{consequence}. '
            "The repair drops it AND THE DATA IT HOLDS: copy it out first if anything still needs it",
            repairs.drop_column(exp.model, table, column),
            exp.label,
            severity=ERROR if breaks else WARNING,
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
        if isinstance(col.field, AutoFieldMixin) and live.generates_values is False:
            kept = (f"; its sequence {live.owned_sequence} still exists (owned by the column): the repair makes it "
                    "the column's default again, from where it stands, never a second sequence beside it"
                    if live.owned_sequence else "")
            yield Finding(
                "missing_identity",
                f"{t}.{column}",
                f'column "{t}"."{column}" ({exp.label}.{column}) generates no values (no identity, no '
                f"sequence default): every insert from Django will fail{kept}",
                repairs.restore_sequence_default(t, column, live.owned_sequence) if live.owned_sequence
                else repairs.add_identity(t, column),
                exp.label,
            )
        if isinstance(col.field, AutoFieldMixin) and live.identity == "a":
            yield Finding(
                "identity_always",
                f"{t}.{column}",
                f'column "{t}"."{column}" is GENERATED ALWAYS AS IDENTITY; Django creates GENERATED BY DEFAULT and '
                "writes explicit ids (fixtures, bulk_create with ids, restores), which ALWAYS rejects",
                repairs.identity_by_default(t, column),
                exp.label,
            )
        # Django writes no NULL/NOT NULL for generated columns: the expression decides.
        if col.null != live.null and not col.field.generated:
            stricter = col.null and not live.null
            yield Finding(
                "column_null",
                f"{t}.{column}",
                f'column "{t}"."{column}" is {"NULL" if live.null else "NOT NULL"} in the database; '
                f"{exp.label}.{col.field.name} expects {'NULL' if col.null else 'NOT NULL'}"
                + (": a row without it is rejected" if stricter else ": rows without it can be stored"),
                repairs.alter_null(exp.model, column, col.null),
                exp.label,
                severity=WARNING if stricter else ERROR,
            )
        if col.type is not None and not _same_collation(col.collation, live.collation, repairs.sqlite):
            want = f'collation "{col.collation}"' if col.collation else "the database's default collation"
            yield Finding(
                "column_collation",
                f"{t}.{column}",
                f'column "{t}"."{column}" has collation "{live.collation or "default"}" in the database; '
                f"{exp.label}.{col.field.name} expects {want}: ordering, equality and case-insensitive lookups "
                "(iexact, icontains) of its text differ from what the app was built and tested with",
                repairs.alter_collation(exp.model, column, col.type, col.collation),
                exp.label,
            )


def _same_collation(want: str | None, have: str | None, sqlite: bool) -> bool:
    if sqlite:  # SQLite names collations case-insensitively; BINARY is its default
        want, have = (c.lower() if c and c.lower() != "binary" else None for c in (want, have))
    return (want or None) == (have or None)


def _compare_generated(exp: ExpectedTable, table: LiveTable, ref, column: str, repairs: Repairs, vendor: str):
    live = table.columns[column]
    if ref is not None:
        if column not in ref.columns:
            return
        want = ref.columns[column].generated
        same = live.generated == want
    else:
        editor = repairs._editor()
        definition, params = editor.column_sql(exp.model, exp.columns[column].field, include_default=False)
        definition = (definition or "") % tuple(map(editor.quote_value, params or ()))
        at = re.search(r"\bAS\s*\(", definition or "", re.IGNORECASE)
        want = balanced_after(definition, at.start())[0] if at else None
        same = want is None or (live.generated is not None and plain_text(want) == plain_text(live.generated))
    if same:
        return
    found = f"GENERATED ALWAYS AS ({live.generated})" if live.generated is not None else "a plain column"
    indexes = [i.name for i in table.indexes if column in i.columns or column in i.include]
    yield Finding(
        "generated_column",
        f"{exp.name}.{column}",
        f'column "{exp.name}"."{column}" ({exp.label}.{exp.columns[column].field.name}) should be GENERATED ALWAYS AS '
        f"({want}) STORED; the database has {found}. Its values are derived, so the repair recomputes them: no data "
        f"is lost{'; the indexes on it (' + ', '.join(indexes) + ') are rebuilt' if indexes else ''}",
        repairs.rebuild_generated(exp, column, ref),
        exp.label,
    )


def _compare_primary_key(exp: ExpectedTable, table: LiveTable, repairs: Repairs):
    if not exp.primary_key or _widened_by_partitioning(exp.primary_key, table.primary_key, table):
        return
    live_pk = next((i.name for i in table.indexes if i.primary), None)
    have = ", ".join(table.primary_key) or "none"
    yield Finding(
        "primary_key",
        exp.name,
        f'primary key of "{exp.name}" is ({have}); {exp.label} expects ({", ".join(exp.primary_key)})',
        repairs.primary_key(exp.model, exp.primary_key, live_pk if table.primary_key else None),
        exp.label,
    )


def _widened_by_partitioning(want: tuple, have: tuple, table: LiveTable) -> bool:
    """True when equal, or when a partitioned table adds its partition key (PostgreSQL requires it in every unique)."""
    want, have = tuple(want), tuple(have)
    if want == have:
        return True
    extra = have[len(want) :]
    return bool(table.partition_columns) and have[: len(want)] == want and bool(extra) and set(extra) <= set(
        table.partition_columns
    )


# --- indexes: PostgreSQL, against the rendered reference -----------------------------------------------


def _signature(index: LiveIndex) -> tuple:
    keys = tuple(c if c is not None else k for c, k in zip(index.columns, index.keys or index.columns, strict=False))
    return (keys, index.orders, index.opclasses, index.method, index.include, bool(index.predicate), index.unique,
            index.nulls_distinct, index.deferrable, index.deferred)


def _same_index(want: LiveIndex, have: LiveIndex, table: LiveTable) -> bool:
    # Predicates by meaning: a restored or repaired index may spell the same WHERE another way.
    if want.predicate != have.predicate and not same_check(want.predicate, have.predicate):
        return False
    if _signature(want) == _signature(have):
        return True
    n = len(want.columns)
    if want.unique and have.unique and len(have.columns) > n and _widened_by_partitioning(want.columns, have.columns, table):
        trimmed = replace(have, columns=have.columns[:n], keys=have.keys[:n], orders=have.orders[:n],
                          opclasses=have.opclasses[:n])
        return _signature(want) == _signature(trimmed)
    return False


def describe_index(index: LiveIndex) -> str:
    keys = [
        (c if c is not None else (k or "an expression")) + (f" {o}" if o else "") + (f" {oc}" if oc else "")
        for c, k, o, oc in zip(index.columns, index.keys or index.columns, _desc_only(index.orders),
                               index.opclasses or ("",) * len(index.columns), strict=False)
    ]
    text = f"({', '.join(keys)})"
    if index.method and index.method != "btree":
        text = f"USING {index.method} {text}"
    if index.include:
        text += f" INCLUDE ({', '.join(index.include)})"
    if index.predicate:
        text += f" with a condition WHERE {index.predicate}"
    if index.unique:
        text = "UNIQUE " + text
    if index.deferrable:
        text += " DEFERRABLE" + (" INITIALLY DEFERRED" if index.deferred else "")
    if not index.nulls_distinct:
        text += " NULLS NOT DISTINCT"
    return text


def _desc_only(orders: tuple) -> tuple:
    return tuple("DESC" if o == "DESC" else "" for o in orders)


def _source(exp: ExpectedTable, ref: LiveIndex) -> str:
    named = next((e for e in exp.indexes if e.name == ref.name), None)
    if named:
        return named.source
    pattern = any(o.endswith("_pattern_ops") for o in ref.opclasses)
    return next(
        (e.source for e in exp.indexes if e.columns == ref.columns and (e.kind == "unique") == ref.unique
         and e.pattern_ops == pattern),
        f"the model {exp.label}",
    )


def _compare_indexes_rendered(exp: ExpectedTable, table: LiveTable, ref: LiveTable, repairs: Repairs):
    matched: set[int] = set()  # live indexes that are an expected one, or that a repair below drops anyway
    for want in ref.indexes:
        if want.primary:
            continue
        same = [i for i in table.indexes if not i.primary and _same_index(want, i, table)]
        matched.update(id(i) for i in same)
        what = "unique constraint" if want.constraint else ("unique index" if want.unique else "index")
        if same and any(i.valid for i in same):
            continue
        if same:
            broken = same[0]
            incomplete = incomplete_index(exp, table, broken, repairs.qn)
            if incomplete is not None:
                yield incomplete
                continue
            duplicates = find_duplicates(repairs.connection, table, broken) if broken.unique else None
            yield Finding(
                "invalid_index",
                f"{exp.name}.{broken.name}",
                f'{what} "{broken.name}" on "{exp.name}" {describe_index(broken)} is INVALID (a CREATE INDEX '
                f"CONCURRENTLY that failed or timed out): it looks present, but PostgreSQL neither uses it for "
                f"queries{' nor enforces its uniqueness' if broken.unique else ''}"
                + (f"; the table holds duplicates it would reject, so the rebuild fails until they are resolved: "
                   f"{duplicates.summary}" if duplicates else ""),
                (duplicates.advice + "\n" if duplicates else "") + repairs.reindex(broken.name),
                exp.label,
            )
            continue
        clash = next((i for i in table.indexes if i.name == want.name), None)
        if clash is not None:
            matched.add(id(clash))
        near = [i for i in table.indexes if not i.primary and i is not clash
                and (set(i.columns) & set(want.columns)) - {None}]
        if clash:
            found = f'the index of that name is {describe_index(clash)}'
        elif near:
            found = "found instead: " + "; ".join(f'"{i.name}" {describe_index(i)}' for i in near[:3])
        else:
            found = "no index in the database has this definition"
        yield Finding(
            "missing_unique" if want.unique else "missing_index",
            f"{exp.name}.{want.name}",
            f'{what} "{want.name}" on "{exp.name}" {describe_index(want)} is missing ({_source(exp, want)} of '
            f"{exp.label}); {found}",
            repairs.create_rendered_index(exp.name, want, clash),
            exp.label,
        )
    for index in table.indexes:
        if index.unique and not index.primary and id(index) not in matched:
            yield _extra_unique(exp, index, repairs)


def _extra_unique(exp: ExpectedTable, index: LiveIndex, repairs: Repairs) -> Finding:
    return Finding(
        "extra_unique",
        f"{exp.name}.{index.name}",
        f'unique {"constraint" if index.constraint else "index"} "{index.name}" on "{exp.name}" '
        f"{describe_index(index)} is not in model {exp.label}: it rejects rows the model allows",
        repairs.drop_index(exp.name, index, exp.model),
        exp.label,
    )


# --- indexes: SQLite (and PostgreSQL when the reference cannot be built), from the models ---------------


def _index_matches(expected: ExpectedIndex, live: LiveIndex, postgresql: bool, parts: dict,
                   table: LiveTable | None = None) -> bool:
    if not live.valid:
        return False
    declaration = expected.declaration
    if postgresql:
        method = getattr(declaration, "suffix", "btree") if hasattr(declaration, "max_name_length") else "btree"
        if live.method != (method if method != "idx" else "btree"):
            return False
        include = tuple(getattr(declaration, "include", None) or ())
        if include and tuple(live.include) != tuple(expected.model_columns(include)):
            return False
        if not include and live.include:
            return False
        deferrable = getattr(declaration, "deferrable", None)
        if bool(deferrable) != live.deferrable or (deferrable and live.deferred != (deferrable.name == "DEFERRED")):
            return False
        if getattr(declaration, "nulls_distinct", None) is False and live.nulls_distinct:
            return False
    predicate = parts.get("predicate")
    if predicate is not None and plain_text(predicate) != plain_text(live.predicate):
        return False
    if expected.expressions:
        if live.name == expected.name:
            keys = parts.get("keys")
            return not postgresql or keys is None or plain_text(keys) == plain_text(", ".join(live.keys))
        return bool(expected.columns) and live.columns == expected.columns and live.orders == expected.orders
    # A partitioned table's unique index also holds the partition key (PostgreSQL requires it): the same by text
    # too, where nothing can be rendered (a read-only standby).
    columns_match = live.columns == expected.columns or (
        table is not None and expected.kind == "unique" and live.unique
        and _widened_by_partitioning(expected.columns, live.columns, table)
    )
    if live.expressions or not columns_match or live.partial != expected.partial:
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


def _describe_index(expected: ExpectedIndex, predicate: str | None = None) -> str:
    if expected.expressions and not expected.columns:
        return f'"{expected.name}" (an expression index, looked up by name)'
    parts = [
        f"{c} DESC" if o == "DESC" else c
        for c, o in zip(expected.columns, expected.orders or ("ASC",) * len(expected.columns), strict=True)
    ]
    condition = f" with a condition WHERE {predicate}" if predicate else (" with a condition" if expected.partial else "")
    return f"({', '.join(parts)}){condition}"


def _compare_indexes(exp: ExpectedTable, table: LiveTable, repairs: Repairs, connection, by_text: bool = True):
    postgresql = connection.vendor == "postgresql"
    matched: set[int] = set()
    for expected in exp.indexes:
        parts = repairs.index_parts(exp.model, expected) if by_text else {}
        predicate = parts.get("predicate")
        same = [live for live in table.indexes if _index_matches(expected, live, postgresql, parts, table)]
        matched.update(id(i) for i in same)
        if same:
            continue
        clash = next((i.name for i in table.indexes if i.name == expected.name), None)
        what = "unique constraint" if expected.kind == "unique" else "index"
        found = next((i for i in table.indexes if i.name == expected.name), None)
        near = [i for i in table.indexes if not i.primary and i is not found
                and (set(i.columns) & set(expected.columns)) - {None}]
        if found:
            seen = f"the index of that name is {describe_index(found)}"
        elif near:
            seen = "found instead: " + "; ".join(f'"{i.name}" {describe_index(i)}' for i in near[:3])
        else:
            seen = "no index in the database has these columns in this order"
        yield Finding(
            "missing_unique" if expected.kind == "unique" else "missing_index",
            f"{exp.name}.{expected.name}",
            f'{what} "{expected.name}" on "{exp.name}" {_describe_index(expected, predicate)} is missing '
            f"({expected.source} of {exp.label}); {seen}",
            repairs.create_index(exp.model, expected, clashing_name=clash),
            exp.label,
        )
    for index in table.indexes:
        if index.unique and not index.primary and id(index) not in matched:
            if any(_widened_by_partitioning(e.columns, index.columns, table) for e in exp.indexes if e.kind == "unique"):
                continue  # judged by the rendered comparison
            yield _extra_unique(exp, index, repairs)


# --- checks ----------------------------------------------------------------------------------------------


def _check_object(exp: ExpectedTable, check: LiveCheck, named: set) -> str:
    if check.name in named or len(check.columns) != 1:
        return f"{exp.name}.{check.name}"
    return f"{exp.name}.{check.columns[0]}"


def _choices_message(want: str, have: str) -> str:
    a, b = choice_list(want), choice_list(have)
    if a is None or b is None or a[0] != b[0]:
        return ""
    rejected, accepted = sorted(a[1] - b[1]), sorted(b[1] - a[1])
    parts = []
    if rejected:
        parts.append(f"the database still rejects {', '.join(rejected)} (the model allows it)")
    if accepted:
        parts.append(f"still accepts {', '.join(accepted)} (the model no longer has it)")
    return "; its list of allowed values differs: " + " and ".join(parts) if parts else ""


def _pair_checks(want: list[LiveCheck], have: list[LiveCheck], same):
    """(expected, live or None) pairs: first by meaning, then by name, then by column; and the live ones left."""
    pairs, left = [], list(have)
    unmatched = []
    for w in want:
        hit = [h for h in left if same(w, h)]
        if hit:
            for h in hit:
                left.remove(h)
            pairs.append((w, hit, True))
        else:
            unmatched.append(w)
    for w in unmatched:
        pick: LiveCheck | None = next((h for h in left if w.name and h.name == w.name), None) or next(
            (h for h in left if w.columns and h.columns == w.columns), None
        )
        if pick is not None:
            left.remove(pick)
        pairs.append((w, [pick] if pick else [], False))
    return pairs, left


def _compare_checks_rendered(exp: ExpectedTable, table: LiveTable, ref: LiveTable, repairs: Repairs):
    named = {c.name for c in exp.checks}
    pairs, extra = _pair_checks(ref.checks, table.checks, lambda w, h: same_check(w.definition, h.definition))
    for want, found, same in pairs:
        obj = _check_object(exp, want, named)
        if same:
            if not any(h.validated for h in found):
                yield Finding(
                    "check_not_valid",
                    obj,
                    f'check constraint "{found[0].name}" on "{exp.name}" {found[0].definition} is NOT VALID: rows '
                    "written before it was added were never checked against it",
                    repairs.validate_check(exp.name, found[0]),
                    exp.label,
                )
            continue
        if found:
            have = found[0]
            yield Finding(
                "check_differs",
                obj,
                f'check constraint on "{exp.name}": {exp.label} expects "{want.name}" {want.definition}; the database '
                f'has "{have.name}" {have.definition}{_choices_message(want.definition, have.definition)}',
                repairs.replace_check(exp.name, have.name, want.name, want.definition),
                exp.label,
            )
        else:
            yield Finding(
                "missing_check",
                obj,
                f'check constraint "{want.name}" {want.definition} on "{exp.name}" ({exp.label}) does not exist in '
                "the database",
                repairs.replace_check(exp.name, None, want.name, want.definition),
                exp.label,
            )
    for have in extra:
        yield Finding(
            "extra_check",
            f"{exp.name}.{have.name}",
            f'check constraint "{have.name}" {have.definition} on "{exp.name}" is not in model {exp.label}: it '
            "rejects rows the model allows",
            repairs.drop_check(exp.name, have.name),
            exp.label,
        )


def _compare_checks_text(exp: ExpectedTable, table: LiveTable, repairs: Repairs, vendor: str = "sqlite"):
    """SQLite keeps each CHECK as written in CREATE TABLE: compare the texts, normalised, literals as sets.

    On PostgreSQL the same comparison is only a first look (see compare_tables)."""
    editor = repairs._editor()
    want: list[LiveCheck] = [
        LiveCheck(c.name, (), c.constraint._get_check_sql(exp.model, editor)) for c in exp.checks
        if hasattr(c.constraint, "_get_check_sql")
    ]
    want += [LiveCheck(None, (column,), col.check) for column, col in exp.columns.items() if col.check
             and column in table.columns]
    named = {c.name for c in exp.checks}
    def matches(w: LiveCheck, h: LiveCheck) -> bool:
        if (w.name is not None and w.name != h.name) or (w.name is None and h.columns != w.columns):
            return False
        return same_check(w.definition, h.definition) or plain_text(w.definition) == plain_text(h.definition)

    pairs, extra = _pair_checks(want, table.checks, matches)
    for w, found, same in pairs:
        if same:
            continue
        obj = _check_object(exp, w, named) if w.name else f"{exp.name}.{w.columns[0]}"
        label = f'"{w.name}" ' if w.name else f'on column "{w.columns[0]}" '
        if found:
            have = found[0]
            yield Finding(
                "check_differs",
                obj,
                f'check constraint {label}on "{exp.name}": {exp.label} expects CHECK ({w.definition}); the database '
                f"has CHECK ({have.definition}){_choices_message(w.definition, have.definition)}",
                repairs.rebuild_table(exp.model),
                exp.label,
            )
        else:
            yield Finding(
                "missing_check",
                obj,
                f"check constraint {label}CHECK ({w.definition}) on \"{exp.name}\" ({exp.label}) does not exist in "
                "the database",
                repairs.rebuild_table(exp.model),
                exp.label,
            )
    for have in extra:
        yield Finding(
            "extra_check",
            f"{exp.name}.{have.name or have.columns[0]}",
            f'check constraint {have.name or ""} CHECK ({have.definition}) on "{exp.name}" is not in model '
            f"{exp.label}: it rejects rows the model allows",
            repairs.rebuild_table(exp.model),
            exp.label,
        )


def _compare_checks_by_name(exp: ExpectedTable, table: LiveTable, repairs: Repairs):
    """PostgreSQL without its rendered reference (a read-only standby): named checks by name, column checks by text."""
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
    haystacks = [normalize_check(c.definition) for c in table.checks]
    for column, col in exp.columns.items():
        if not col.check or column not in table.columns:
            continue
        needle = normalize_check(col.check)
        if not any(needle in h for h in haystacks):
            yield Finding(
                "missing_check",
                f"{exp.name}.{column}",
                f'check ({col.check}) on column "{exp.name}"."{column}" ({exp.label}.{col.field.name}) does not '
                "exist in the database",
                repairs.add_column_check(exp.model, column, col.check),
                exp.label,
            )


# --- foreign keys ----------------------------------------------------------------------------------------


def _compare_foreign_keys(exp: ExpectedTable, table: LiveTable, live: LiveSchema, repairs: Repairs, connection):
    for fk in exp.foreign_keys:
        obj = f"{exp.name}.{fk.column}"
        target_table = live.get(fk.ref_table)
        want_schema = target_table.schema if target_table is not None else live.current_schema
        qualified = f'"{want_schema}"."{fk.ref_table}"' if connection.vendor == "postgresql" else f'"{fk.ref_table}"'
        target = f'"{fk.ref_table}"("{fk.ref_column}")'
        found = next((f for f in table.foreign_keys if f.columns == (fk.column,)), None)
        if found is None:
            yield Finding(
                "missing_fk",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" → {target} ({exp.label}.{fk.field.name}) does not exist: '
                "the database accepts rows pointing nowhere",
                repairs.foreign_key(exp.model, fk.field, check_orphans=(exp.name, fk.column, fk.ref_table, fk.ref_column)),
                exp.label,
            )
            continue
        wrong_schema = connection.vendor == "postgresql" and found.ref_schema != want_schema
        if (found.ref_table, found.ref_columns) != (fk.ref_table, (fk.ref_column,)) or wrong_schema:
            where = f'"{found.ref_schema}"."{found.ref_table}"' if found.ref_schema else f'"{found.ref_table}"'
            yield Finding(
                "fk_target",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" references {where}({", ".join(found.ref_columns)}); '
                f'{exp.label}.{fk.field.name} expects {qualified}("{fk.ref_column}")',
                repairs.foreign_key(exp.model, fk.field, found.name,
                                    check_orphans=(exp.name, fk.column, fk.ref_table, fk.ref_column)),
                exp.label,
            )
            continue
        if found.on_delete != fk.on_delete:
            declared = getattr(fk.field.remote_field.on_delete, "__name__", str(fk.field.remote_field.on_delete))
            yield Finding(
                "fk_on_delete",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" → {target} says ON DELETE {found.on_delete} in the database; '
                f"{exp.label}.{fk.field.name} has on_delete={declared}, which needs ON DELETE {fk.on_delete}",
                repairs.foreign_key(exp.model, fk.field, found.name),
                exp.label,
            )
        elif connection.features.can_defer_constraint_checks and found.deferrable is not None and not (
            found.deferrable and found.deferred
        ):
            state = "DEFERRABLE INITIALLY IMMEDIATE" if found.deferrable else "NOT DEFERRABLE"
            yield Finding(
                "fk_not_deferrable",
                obj,
                f'foreign key "{exp.name}"."{fk.column}" → {target} is {state}; Django creates it DEFERRABLE '
                "INITIALLY DEFERRED and relies on that to write related rows in any order within a transaction",
                repairs.make_deferrable(exp.model, found.name),
                exp.label,
            )
        if not found.validated:
            pk = pk_column(exp.model)
            lost = orphans(connection, exp.name, pk, fk.column, fk.ref_table, fk.ref_column)
            state = (f"{lost.count} row(s) point nowhere ({pk} {', '.join(map(str, lost.sample))}"
                     f"{', …' if lost.count > len(lost.sample) else ''}), so VALIDATE fails until they are deleted "
                     "or, where the column allows it, set to NULL" if lost.count else
                     "no row points nowhere now, so it can be validated as it is")
            yield Finding(
                "fk_not_valid",
                obj,
                f'foreign key "{found.name}" "{exp.name}"."{fk.column}" → {target} is NOT VALID: rows written before '
                f"it was added were never checked; {state}",
                repairs.validate_fk(exp.name, fk.column, fk.ref_table, fk.ref_column, found.name, lost.count,
                                    fk.field.null),
                exp.label,
            )


# --- sequences -------------------------------------------------------------------------------------------


def sequence_findings(expected: dict[str, ExpectedTable], live: LiveSchema, connection) -> list[Finding]:
    """PostgreSQL: a sequence behind the table's largest id hands out an id in use; the next insert fails."""
    if connection.vendor != "postgresql":
        return []
    qn = connection.ops.quote_name
    probes, params = [], []
    for name, exp in expected.items():
        table = live.get(name)
        if table is None:
            continue
        for column, col in exp.columns.items():
            found = table.columns.get(column)
            if isinstance(col.field, AutoFieldMixin) and found is not None and found.sequence:
                probes.append(
                    f"SELECT %s, %s, %s, (SELECT max({qn(column)}) FROM {qn(table.schema)}.{qn(name)}), s.last_value, "
                    f"s.is_called, q.seqincrement FROM {found.sequence} s, pg_catalog.pg_sequence q "
                    "WHERE q.seqrelid = %s::regclass"
                )
                params += [name, column, found.sequence, found.sequence]
    if not probes:
        return []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(probes), params)
        rows = cursor.fetchall()
    findings = []
    repairs = Repairs(connection)
    for name, column, sequence, largest, last, called, increment in rows:
        following = last + increment if called else last
        if largest is not None and increment > 0 and following <= largest:
            table = live[name]
            if column in table.primary_key and len(table.primary_key) > 1:
                # A partitioned table's key is (id, created_at): an id in use is accepted beside the old row.
                happens = (f"the primary key is ({', '.join(table.primary_key)}), so the next insert is NOT "
                           f"rejected: it silently stores a second row with a {column} already in use, and "
                           "get(pk=…) then finds two rows (MultipleObjectsReturned) while updates and deletes by id "
                           "touch both")
            else:
                happens = "the next insert fails with a duplicate key"
            findings.append(
                Finding(
                    "sequence_behind",
                    f"{name}.{column}",
                    f'sequence {sequence} of "{name}"."{column}" would hand out {following} next, but the table\'s '
                    f"largest {column} is {largest}: {happens} (a restore or a copy that wrote explicit ids "
                    "without moving the sequence)",
                    repairs.move_sequence(name, column, sequence),
                    expected[name].label,
                )
            )
    return findings
