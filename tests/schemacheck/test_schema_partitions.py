"""The drift corpus of partitioned tables, collations, sequences, history and repairs that must never strand data.

Each case: a probe shows the application working on the healthy database and failing (or misbehaving) on the
drifted one; the check names the object with the right severity; every repair it prints runs, in order, once (one
run's repairs fix everything it reported); the check is clean again, the probe holds again, and every row the app
could see before the drift is visible to it again (plus the rows written while drifted).

PostgreSQL cases (partitions, collations, sequences, row security are PostgreSQL concepts) are collected on SQLite
too and skipped there with that reason; the cases SQLite has run on both. On PostgreSQL the whole module shares one
migrated database and each test runs in a transaction that is rolled back (no table flush between cases).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

import schemacheck as schema
from events.models import ActivityEvent, Bookmark, Conversation, Message, MessageEvent, ProjectAction
from events.partitions import add_months, convert_table, create_month_partition, month_start, partition_name
from monitoring.models import WorkflowExecution
from projects.models import Membership, Project
from tests.schema_drift import (
    Probe,
    assert_clean,
    bad_write_rejected,
    drifted,
    expected_findings,
    run_repair,
    sqlite_rebuild,
    uses_index,
    write_works,
)

POSTGRESQL = connection.vendor == "postgresql"
PG = ("postgresql",)
BOTH = ("postgresql", "sqlite")
E, A = "events_activityevent", "project_actions"
# One role name per test process: roles are shared by every database of the server.
ROLE = f"ah_schema_probe_{os.getpid()}"

pytestmark = pytest.mark.django_db(transaction=not POSTGRESQL)


def now() -> datetime:
    return datetime.now(UTC)


def month(offset: int) -> datetime:
    return add_months(month_start(now()), offset)


def part(table: str, offset: int) -> str:
    return partition_name(table, month(offset))


def iso(offset: int) -> str:
    return month(offset).isoformat()


def cols(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                       "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", [table])
        return ", ".join(f'"{name}"' for (name,) in cursor.fetchall())


# --- the world: rows in last month, this month, next month and far ahead (the DEFAULT partition) -------------


@dataclass
class World:
    user: User
    project: Project
    conversation: Conversation
    message: Message
    now: ActivityEvent
    last: ActivityEvent
    next: ActivityEvent
    far: ActivityEvent
    action_last: ProjectAction


W: World  # set per test, read by the lambdas below


def event(**extra):
    fields = {"project": W.project, "event_type": "INDEXING_STARTED", "entity_type": "repo", "title": "t", **extra}
    return ActivityEvent.objects.create(**fields)


@pytest.fixture
def world(db):
    if POSTGRESQL:
        for table in (E, A):  # last month has rows: it has a partition of its own, as convert_table would give it
            create_month_partition(table, month(-1))
    user = User.objects.create_user("partition-user")
    project = Project.objects.create(name="Partitions", slug="partitions")
    conversation = Conversation.objects.create(project=project, title="c")
    message = Message.objects.create(conversation=conversation, role="user", content="hi")

    def at(moment, title):
        return ActivityEvent.objects.create(project=project, user=user, event_type="INDEXING_STARTED",
                                            entity_type="repo", title=title, created_at=moment)

    world = World(
        user, project, conversation, message,
        now=at(now() - timedelta(seconds=1) if now() - timedelta(seconds=1) >= month(0) else now(), "this month"),
        last=at(month(-1) + timedelta(days=14), "last month"),
        next=at(month(1) + timedelta(days=9), "next month"),
        far=at(datetime(2200, 1, 1, tzinfo=UTC), "far ahead"),
        action_last=ProjectAction.objects.create(project=project, action_type="deployment",
                                                 created_at=month(-1) + timedelta(days=3)),
    )
    connection.check_constraints()  # no deferred checks pending: PostgreSQL refuses ALTER TABLE while they are
    return world


VISIBLE = (ActivityEvent, ProjectAction, Project, Membership, Conversation, Message, MessageEvent, Bookmark,
           WorkflowExecution)


def visible() -> dict[str, set]:
    """What the app sees: every row of each model, by primary key, through the ORM."""
    return {model._meta.label: set(model.objects.values_list("pk", flat=True)) for model in VISIBLE}


# --- probes ----------------------------------------------------------------------------------------------


def stored_in(obj_query: Callable[[], ActivityEvent], table: str, offset: int) -> Callable[[], bool]:
    """The event lands in the month partition of `offset` (what retention drops whole)."""

    def works():
        with transaction.atomic():
            row = obj_query()
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row.pk])
                where = cursor.fetchone()[0]
            transaction.set_rollback(True)
        print(f"stored in {where}")
        return where == part(table, offset)

    return works


def as_the_tables_owner(sql: str, table: str = E) -> Callable[[], Any]:
    """Run `sql` as a role that owns the table and every partition its owner owns: how the app runs in production
    (the tests connect as a superuser, which row security and ownership never stop)."""

    def run():
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {ROLE}_app")
            cursor.execute("SELECT c.relname FROM pg_class c WHERE (c.oid = to_regclass(%s) OR c.oid IN "
                           "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))) "
                           "AND c.relowner = (SELECT relowner FROM pg_class WHERE oid = to_regclass(%s))",
                           [table, table, table])
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{name}" OWNER TO {ROLE}_app')
            cursor.execute(f"SET LOCAL ROLE {ROLE}_app")
            cursor.execute(sql)
            return cursor.fetchone()

    return run


def month_rows_seen_by_owner():
    """Retention counts a month's rows straight from its partition, as the table's owner."""
    def works():
        expected = ActivityEvent.objects.filter(created_at__gte=month(0), created_at__lt=month(1)).count()
        try:
            with transaction.atomic():
                (count,) = as_the_tables_owner(f'SELECT count(*) FROM "{part(E, 0)}"')()
                transaction.set_rollback(True)
        except Exception as exc:
            print(f"probe failed: {exc!r}")
            return False
        return count == expected

    return Probe("as the table's owner, retention counts this month's rows in its partition", works)


def ordered_as_the_database(table, column, values):
    """ORDER BY the column gives the database's default order (what every list of the app sorts by)."""
    def works():
        with transaction.atomic():
            for value in values:
                Project.objects.create(name=value, slug=value.lower().replace("ß", "ss"))
            got = list(Project.objects.filter(name__in=values).order_by("name").values_list("name", flat=True))
            with connection.cursor() as cursor:
                cursor.execute(f'SELECT {column} FROM {table} WHERE {column} = ANY(%s) ORDER BY {column} COLLATE "default"',
                               [list(values)])
                want = [name for (name,) in cursor.fetchall()]
            transaction.set_rollback(True)
        print(f"ordered {got}, the database's default order {want}")
        return got == want

    return Probe("projects sort by name in the database's default order", works)


def _other_collation() -> str:
    """A collation whose order of 'alpha' and 'Beta' differs from the database's default."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        (default,) = cursor.fetchone()
    return "en-x-icu" if default.split(".")[0] in {"C", "POSIX"} else "C"


def orphan_count(table, column, ref):
    def count():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table} t WHERE t.{column} IS NOT NULL AND NOT EXISTS "
                           f"(SELECT 1 FROM {ref} r WHERE r.id = t.{column})")
            return cursor.fetchone()[0]
    return count


def migrate_check_passes():
    def run():
        try:
            call_command("migrate", check=True, verbosity=0)
        except SystemExit as exit:
            raise AssertionError(f"migrate --check exited {exit.code}") from None
    return write_works("the deploy's `migrate --check` passes", run)


def latest_migration(app):
    [(_, name)] = MigrationLoader(connection).graph.leaf_nodes(app)
    return name


# --- drifts ----------------------------------------------------------------------------------------------


def detach(table, offset, keep_rows_in_table=False, held=None):
    """Detach a month partition; with keep_rows_in_table its rows go back through the table (to DEFAULT)."""
    name = part(table, offset)
    statements: list[str | Callable[[], object]] = [f'ALTER TABLE {table} DETACH PARTITION "{name}"']
    if keep_rows_in_table:
        statements += [f'ALTER TABLE "{name}" RENAME TO "{held or name + "_held"}"',
                       lambda: _copy(f'"{held or name + "_held"}"', table), f'DROP TABLE "{held or name + "_held"}"']
    return statements


def _copy(source, table):
    with connection.cursor() as cursor:
        columns = cols(table)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}")


def rebound(table, offsets, start, end):
    """Replace the month partitions `offsets` by one partition [start, end), rows kept."""
    statements = []
    for offset in offsets:
        statements += detach(table, offset) + [f'ALTER TABLE "{part(table, offset)}" RENAME TO "held_{offset + 5}"']
    statements.append(f"CREATE TABLE \"{part(table, offsets[0])}\" PARTITION OF {table} FOR VALUES FROM "
                      f"('{start.isoformat()}') TO ('{end.isoformat()}')")
    for offset in offsets:
        statements += [lambda offset=offset: _copy(f'"held_{offset + 5}"', table), f'DROP TABLE "held_{offset + 5}"']
    return statements


def trigger_rewrites_status():
    return [
        "CREATE FUNCTION mark_completed_by_hand() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.status := 'COMPLETED'; RETURN NEW; END $$",
        f'CREATE TRIGGER mark_completed BEFORE INSERT ON "{part(E, 0)}" FOR EACH ROW '
        "EXECUTE FUNCTION mark_completed_by_hand()",
    ]


def collation_drift(collation):
    return [f'ALTER TABLE projects_project ALTER COLUMN name TYPE varchar(120) COLLATE "{collation}"']


def orphan_fk(table, column, ref, values_sql):
    def statements():
        fk = next(f.name for f in _live(table).foreign_keys if f.columns == (column,))
        return [
            f'ALTER TABLE {table} DROP CONSTRAINT "{fk}"',
            values_sql(),
            connection.check_constraints,  # the insert's other deferred checks, before ALTER TABLE
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_by_hand FOREIGN KEY ({column}) REFERENCES {ref} (id) "
            "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED NOT VALID",
        ]
    return statements


def _live(table):
    from schemacheck.live import read_live_schema

    return read_live_schema(connection)[table]


@dataclass
class Case:
    id: str
    vendors: tuple
    sql: Callable[[], list]
    probe: Callable[[], Probe]
    kind: str
    object: str  # a substring of the finding's object
    message: str = ""  # a substring of its message
    severity: str = "error"
    also: tuple = ()  # further finding kinds the drift causes
    data_fix: Callable[[], list[str]] | None = None  # what a human decides first, as the finding's message says
    kept: Callable[[], bool] | None = None  # rows written while drifted are visible after the repair too
    repair_says: str = ""  # a substring of the repair


CASES = [
    # --- the monthly layout ------------------------------------------------------------------------------
    Case(
        "default-partition-dropped", PG,
        lambda: [f"DROP TABLE {A}_default"],
        lambda: write_works("an audit action dated far ahead can be recorded",
                            lambda: ProjectAction.objects.create(project=W.project, action_type="deployment",
                                                                 created_at=datetime(2300, 1, 1, tzinfo=UTC))),
        "missing_default_partition", A, "insert fails", repair_says="PARTITION OF",
    ),
    Case(
        "this-next-month-and-default-partitions-all-gone", PG,
        lambda: [f'DROP TABLE "{part(A, 0)}"', f'DROP TABLE "{part(A, 1)}"', f"DROP TABLE {A}_default"],
        lambda: write_works("an audit action can be recorded now",
                            lambda: ProjectAction.objects.create(project=W.project, action_type="deployment")),
        "missing_partition", A, "every insert from Django fails now", also=("missing_default_partition",),
        repair_says="create_partitions",
    ),
    Case(
        "partition-ends-in-the-middle-of-the-month", PG,
        lambda: rebound(E, [0], month(0), month(0) + timedelta(days=14)),
        lambda: Probe("an event of the month's last day is kept in the month's partition",
                      stored_in(lambda: event(created_at=month(1) - timedelta(hours=1)), E, 0)),
        "partition_bounds", part(E, 0), "middle of a month", severity="warning", repair_says="repair_partitions",
    ),
    Case(
        "one-partition-spans-two-months", PG,
        lambda: rebound(E, [0, 1], month(0), month(2)),
        lambda: Probe("an event of next month is kept in next month's partition",
                      stored_in(lambda: event(created_at=month(1) + timedelta(days=3)), E, 1)),
        "partition_bounds", part(E, 0), "spans 2 months", severity="warning",
    ),
    Case(
        "past-months-rows-sit-in-default", PG,
        lambda: detach(E, -1, keep_rows_in_table=True),
        lambda: Probe("last month's events are in last month's partition (retention drops it whole)",
                      stored_in(lambda: ActivityEvent.objects.get(pk=W.last.pk), E, -1)),
        "rows_in_default", f"{E}.{E}_default", "1 row(s) of months", severity="warning",
    ),
    Case(
        "this-month-partition-missing-its-rows-in-default", PG,
        lambda: detach(E, 0, keep_rows_in_table=True),
        lambda: Probe("this month's events are in this month's partition",
                      stored_in(lambda: ActivityEvent.objects.get(pk=W.now.pk), E, 0)),
        "missing_partition", E, "already sit there", severity="warning", repair_says="create_partitions",
    ),
    Case(
        "table-converted-back-to-a-plain-table", PG,
        lambda: [lambda: convert_table(_Editor(), A, partitioned=False)],
        lambda: Probe("retention can drop a whole month of audit actions (the table is partitioned by month)",
                      lambda: _partitions_of(A) > 0),
        "not_partitioned", A, "0009_partition_activity_by_month", repair_says="repair_partitions",
    ),
    # --- a partition detached and left as a table with its rows -----------------------------------------
    Case(
        "this-month-partition-detached", PG,
        lambda: detach(E, 0),
        lambda: Probe("this month's event is in the feed", lambda: ActivityEvent.objects.filter(pk=W.now.pk).exists()),
        "detached_partition", part(E, 0), "cannot see those rows", repair_says="ATTACH PARTITION",
    ),
    Case(
        "detached-partition-replaced-by-an-empty-one-the-old-repair-created", PG,
        lambda: [*detach(E, 0),
                 f'CREATE TABLE "{E}_p{month(0):%Y%m%d}" PARTITION OF {E} FOR VALUES FROM (\'{iso(0)}\') TO (\'{iso(1)}\')',
                 lambda: event(title="written while detached")],
        lambda: Probe("this month's event is in the feed", lambda: ActivityEvent.objects.filter(pk=W.now.pk).exists()),
        "detached_partition", part(E, 0), "created in its place",
        kept=lambda: ActivityEvent.objects.filter(title="written while detached").exists(),
    ),
    Case(
        "detached-partition-and-its-month-written-since-into-default", PG,
        lambda: [*detach(E, 0), lambda: event(title="written while detached")],
        lambda: Probe("this month's event is in the feed", lambda: ActivityEvent.objects.filter(pk=W.now.pk).exists()),
        "detached_partition", part(E, 0), "are all inside",
        kept=lambda: stored_in(lambda: ActivityEvent.objects.get(title="written while detached"), E, 0)(),
    ),
    Case(
        "default-partition-detached", PG,
        lambda: [f"ALTER TABLE {E} DETACH PARTITION {E}_default"],
        lambda: Probe("an event dated far ahead is in the feed",
                      lambda: ActivityEvent.objects.filter(pk=W.far.pk).exists()),
        "detached_partition", f"{E}_default", "back as the DEFAULT partition",
    ),
    # --- a rule on one partition only -------------------------------------------------------------------
    Case(
        "unique-index-on-one-partition", PG,
        lambda: [f'CREATE UNIQUE INDEX one_title_a_month ON "{part(E, 0)}" (project_id, title)'],
        lambda: write_works("two events with the same title this month", lambda: (event(title="same"),
                                                                                  event(title="same"))),
        "partition_unique", "one_title_a_month", "rejects rows the model allows", severity="warning",
    ),
    Case(
        "check-on-one-partition", PG,
        lambda: [f'ALTER TABLE "{part(E, 0)}" ADD CONSTRAINT short_runs_only CHECK (duration IS NULL OR duration < 1000)'],
        lambda: write_works("an event of 5 seconds this month", lambda: event(duration=5000)),
        "partition_check", "short_runs_only", "duration < 1000", severity="warning",
    ),
    Case(
        "not-null-on-one-partition", PG,
        lambda: [f"UPDATE \"{part(E, 0)}\" SET description = '' WHERE description IS NULL",
                 connection.check_constraints,  # the update's deferred checks, before ALTER TABLE
                 f'ALTER TABLE "{part(E, 0)}" ALTER COLUMN description SET NOT NULL'],
        lambda: write_works("an event without a description this month", lambda: event(description=None)),
        "partition_not_null", f"{part(E, 0)}.description", "NOT NULL", severity="warning",
    ),
    Case(
        "before-insert-trigger-on-one-partition-rewrites-rows", PG,
        trigger_rewrites_status,
        lambda: Probe("an event written IN_PROGRESS is stored IN_PROGRESS", lambda: _stored_status() == "IN_PROGRESS"),
        "partition_trigger", "mark_completed", "rewrite or silently drop",
    ),
    Case(
        "partition-owned-by-another-role", PG,
        lambda: [f"CREATE ROLE {ROLE}_other", f'ALTER TABLE "{part(E, 0)}" OWNER TO {ROLE}_other'],
        month_rows_seen_by_owner,
        "partition_owner", part(E, 0), "permission denied",
    ),
    Case(
        "row-level-security-forced-on-one-partition", PG,
        lambda: [f'ALTER TABLE "{part(E, 0)}" ENABLE ROW LEVEL SECURITY',
                 f'ALTER TABLE "{part(E, 0)}" FORCE ROW LEVEL SECURITY'],
        month_rows_seen_by_owner,
        "partition_row_security", part(E, 0), "FORCEd",
    ),
    Case(
        "cancelled-reindex-concurrently-left-a-ccnew-index", PG,
        lambda: [f'CREATE INDEX event_status_created_ccnew ON "{part(E, 0)}" (status, created_at DESC, id DESC)',
                 "UPDATE pg_index SET indisvalid = false, indisready = false "
                 "WHERE indexrelid = 'event_status_created_ccnew'::regclass"],
        lambda: Probe("no index of the table's partitions is left unusable", lambda: _invalid_partition_indexes() == 0),
        "leftover_index", "event_status_created_ccnew", "cancelled REINDEX CONCURRENTLY", severity="warning",
    ),
    Case(
        "index-created-on-only-the-table-and-attached-for-one-partition", PG,
        lambda: ["DROP INDEX event_status_created",
                 f"CREATE INDEX event_status_created ON ONLY {E} (status, created_at DESC, id DESC)",
                 f'CREATE INDEX next_month_status ON "{part(E, 1)}" (status, created_at DESC, id DESC)',
                 "ALTER INDEX event_status_created ATTACH PARTITION next_month_status"],
        lambda: uses_index("the status filter over this month uses its index",
                           lambda: ActivityEvent.objects.filter(status="FAILED", created_at__gte=month(0),
                                                                created_at__lt=month(1)).order_by("-created_at", "-id")[:20],
                           "event_status_created"),
        "partitioned_index_incomplete", "event_status_created", "REINDEX does not help",
        repair_says="ATTACH PARTITION",
    ),
    # --- ids of the partitioned table -------------------------------------------------------------------
    Case(
        "partitioned-table-lost-its-id-default", PG,
        lambda: [f"ALTER TABLE {E} ALTER COLUMN id DROP DEFAULT"],
        lambda: Probe("an event can be created, its id from the table's own sequence", _id_from_own_sequence),
        "missing_identity", f"{E}.id", "never a second sequence", repair_says="nextval('public.events_activityevent_id_seq'",
    ),
    Case(
        "sequence-behind-on-the-partitioned-table", PG,
        lambda: [f"SELECT setval('events_activityevent_id_seq', (SELECT min(id) FROM {E}), false)"],
        lambda: Probe("a new event's id is its own (one row per id)",
                      lambda: _succeeds_with(lambda: ActivityEvent.objects.filter(pk=event().pk).count() == 1)),
        "sequence_behind", f"{E}.id", "silently stores a second row",
    ),
    Case(
        "partitioned-table-renamed", PG,
        lambda: [f"ALTER TABLE {A} RENAME TO audit_before_the_move"],
        lambda: write_works("audit actions can be listed", lambda: list(ProjectAction.objects.all())),
        "renamed_table", A, '"audit_before_the_move"', repair_says="RENAME TO",
    ),
    # --- collations -------------------------------------------------------------------------------------
    Case(
        "column-with-another-collation", PG,
        lambda: collation_drift(_other_collation()),
        lambda: ordered_as_the_database("projects_project", "name", ["alpha", "Beta"]),
        "column_collation", "projects_project.name", "ordering, equality",
    ),
    Case(
        "column-with-an-icu-collation-changes-iexact", PG,
        lambda: ['ALTER TABLE events_conversation ALTER COLUMN title TYPE varchar(255) COLLATE "und-x-icu"'],
        lambda: Probe("iexact 'STRASSE' does not match the title 'Straße' (as the default collation decides)",
                      lambda: _succeeds_with(lambda: (Conversation.objects.create(project=W.project, title="Straße"),
                                                      not Conversation.objects.filter(title__iexact="STRASSE").exists())[1])),
        "column_collation", "events_conversation.title", "und-x-icu",
    ),
    Case(
        # A table nothing references: the test runs the rebuild in its transaction, where SQLite cannot switch
        # foreign keys off (the repair's comment says why a referenced table needs them off).
        "column-with-a-nocase-collation", ("sqlite",),
        lambda: sqlite_rebuild("projects_membership", lambda sql: sql.replace(
            '"role" varchar(10) NOT NULL', '"role" varchar(10) NOT NULL COLLATE NOCASE')),
        lambda: Probe("role='VIEWER' finds no 'viewer' membership (exact match)",
                      lambda: _succeeds_with(lambda: (
                          Membership.objects.create(project=W.project, user=W.user, role="viewer"),
                          not Membership.objects.filter(role="VIEWER").exists())[1])),
        "column_collation", "projects_membership.role", "NOCASE",
    ),
    # --- safe repairs where advice was all there was ----------------------------------------------------
    Case(
        "extra-unique-expression-index", BOTH,
        lambda: ["CREATE UNIQUE INDEX project_slug_lower ON projects_project (lower(slug))"],
        lambda: write_works("projects 'acme' and 'ACME' can both exist",
                            lambda: (Project.objects.create(name="a", slug="acme"),
                                     Project.objects.create(name="b", slug="ACME"))),
        "extra_unique", "project_slug_lower", "UNIQUE (lower(", severity="warning",
    ),
    Case(
        "latest-migration-record-deleted", PG,
        lambda: [f"DELETE FROM django_migrations WHERE app = 'events' AND name = '{latest_migration('events')}'"],
        migrate_check_passes,
        "migration_records", "django_migrations", "already", repair_says="--fake",
    ),
    Case(
        "migration-record-deleted-under-applied-dependants", PG,
        lambda: ["DELETE FROM django_migrations WHERE app = 'events' AND name = '0005_msgevent_drop_duplicate_fk_indexes'"],
        lambda: write_works("migrate has nothing to do", lambda: call_command("migrate", verbosity=0)),
        "migration_history", "django_migrations", "depend on events.0005", repair_says="INSERT INTO django_migrations",
    ),
    Case(
        "not-valid-fk-with-orphans-deleted-by-the-explicit-flag", PG,
        orphan_fk("events_bookmark", "message_id", "events_message",
                  lambda: f"INSERT INTO events_bookmark (user_id, message_id, created_at) VALUES ({W.user.pk}, 999999, now())"),
        lambda: Probe("every bookmark points at a message",
                      lambda: orphan_count("events_bookmark", "message_id", "events_message")() == 0),
        "fk_not_valid", "events_bookmark.message_id", "1 row(s) point nowhere", repair_says="repair_orphans events_bookmark.message_id --delete",
    ),
    Case(
        "not-valid-fk-with-orphans-kept-with-the-reference-cleared", PG,
        orphan_fk("events_messageevent", "message_id", "events_message",
                  lambda: "INSERT INTO events_messageevent (message_id, event_type, chunk_ids, metadata, timestamp, "
                          "updated_at) VALUES (999999, 'copy', '[]', '{\"kept\": true}', now(), now())"),
        lambda: Probe("every rating's message exists",
                      lambda: orphan_count("events_messageevent", "message_id", "events_message")() == 0),
        "fk_not_valid", "events_messageevent.message_id", "set to NULL", repair_says="--set-null",
        kept=lambda: MessageEvent.objects.filter(metadata__kept=True, message__isnull=True).exists(),
    ),
    Case(
        "invalid-unique-index-with-duplicates-shown-before-the-rebuild", PG,
        lambda: ["UPDATE pg_index SET indisvalid = false, indisready = false "
                 "WHERE indexrelid = 'execution_one_per_run_id'::regclass",
                 lambda: [WorkflowExecution.objects.create(project=W.project, run_id="twice", workflow_name="ci")
                          for _ in range(2)]],
        lambda: bad_write_rejected("a second run with the same run_id is rejected", lambda: [
            WorkflowExecution.objects.create(project=W.project, run_id="same", workflow_name="ci") for _ in range(2)]),
        "invalid_index", "execution_one_per_run_id", "run_id='twice'",
        data_fix=lambda: ["DELETE FROM workflow_executions WHERE run_id = 'twice' AND id <> "
                          "(SELECT min(id) FROM workflow_executions WHERE run_id = 'twice')"],
        repair_says="REINDEX",
    ),
]


class _Editor:
    connection = connection


def _partitions_of(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass(%s)", [table])
        return cursor.fetchone()[0]


def _stored_status():
    with transaction.atomic():
        created = event(status="IN_PROGRESS")
        status = ActivityEvent.objects.get(pk=created.pk).status
        transaction.set_rollback(True)
    return status


def _invalid_partition_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indrelid "
                       "WHERE i.inhparent IN (to_regclass(%s), to_regclass(%s)) AND NOT (x.indisvalid AND x.indisready)",
                       [E, A])
        return cursor.fetchone()[0]


def _succeeds_with(check):
    try:
        with transaction.atomic():
            result = check()
            transaction.set_rollback(True)
    except Exception as exc:
        print(f"probe failed: {exc!r}")
        return False
    return bool(result)


def _id_from_own_sequence():
    def check():
        created = event()
        with connection.cursor() as cursor:
            cursor.execute("SELECT last_value, pg_get_serial_sequence(%s, 'id') FROM events_activityevent_id_seq", [E])
            last, sequence = cursor.fetchone()
        return created.pk == last and sequence == "public.events_activityevent_id_seq"
    return _succeeds_with(check)


def _params():
    for case in CASES:
        marks = () if connection.vendor in case.vendors else pytest.mark.skip(
            reason=f"{'PostgreSQL' if connection.vendor == 'sqlite' else 'SQLite'} only: "
                   "partitions, collations, sequences and row security are PostgreSQL concepts here")
        yield pytest.param(case, id=case.id, marks=marks)


def test_the_corpus_has_at_least_twenty_five_postgresql_cases_with_unique_ids():
    assert len([c for c in CASES if "postgresql" in c.vendors]) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", list(_params()))
def test_drift_breaks_the_app_is_found_with_its_severity_and_one_run_of_its_repairs_restores_it_and_the_data(
    case, world
):
    global W
    W = world
    assert_clean()
    probe = case.probe()
    assert probe.works(), f"healthy database: {probe.describe} should hold"
    before = visible()
    with drifted(*case.sql()):
        assert not probe.works(), f"the drift should break: {probe.describe}"
        report = schema.check()
        hits, summary = expected_findings(report, case.kind, case.object, case.message, case.also)
        assert all(f.severity == case.severity for f in hits), summary
        assert case.repair_says in "\n".join(f.repair for f in hits), summary
        for statement in case.data_fix() if case.data_fix else ():
            with connection.cursor() as cursor:
                cursor.execute(statement)
        connection.check_constraints()  # PostgreSQL refuses ALTER TABLE while deferred checks are pending
        for finding in report.findings:  # each printed repair, once, in the order printed
            run_repair(finding.repair)
        assert_clean()
        assert probe.works(), f"after the repair: {probe.describe} should hold again"
        after = visible()
        lost = {label: before[label] - after[label] for label in before if before[label] - after[label]}
        assert not lost, f"rows the app no longer sees after the repair: {lost}"
        assert case.kept is None or case.kept(), "rows written while drifted are visible after the repair"


# --- healthy shapes that must stay clean ------------------------------------------------------------------


only_postgresql = pytest.mark.skipif(not POSTGRESQL, reason="partitions are a PostgreSQL concept (SQLite keeps plain tables)")


@only_postgresql
def test_partitions_created_five_years_ahead_and_the_repairs_on_a_healthy_database_change_nothing(world):
    call_command("create_partitions", "--months-ahead", "60", verbosity=0)
    assert _partitions_of(E) >= 63
    assert_clean()
    before = visible()
    for table in (E, A):
        call_command("repair_partitions", table, verbosity=0)
    assert _partitions_of(E) >= 63
    assert visible() == before
    assert_clean()


@only_postgresql
def test_repair_orphans_without_a_flag_lists_them_and_changes_nothing(world, capsys):
    global W
    W = world
    with transaction.atomic():
        for statement in orphan_fk("events_bookmark", "message_id", "events_message", lambda: (
                f"INSERT INTO events_bookmark (user_id, message_id, created_at) VALUES ({W.user.pk}, 999999, now())"))():
            if callable(statement):
                statement()
                continue
            with connection.cursor() as cursor:
                cursor.execute(statement)
        with pytest.raises(SystemExit) as exit:
            call_command("repair_orphans", "events_bookmark.message_id")
        assert exit.value.code == 1
        out = capsys.readouterr()
        assert '"message_id": 999999' in out.out and "nothing changed" in out.err
        assert orphan_count("events_bookmark", "message_id", "events_message")() == 1
        [finding] = [f for f in schema.check().findings if f.kind == "fk_not_valid"]
        assert "events_bookmark.message_id --delete" in finding.repair
        transaction.set_rollback(True)


def test_an_expression_unique_index_is_described_not_a_crash(world):
    # SQLite used to raise TypeError in describe_index: the pragma names no column for an expression key.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE UNIQUE INDEX project_slug_lower ON projects_project (lower(slug))")
        [finding] = schema.check().findings
        transaction.set_rollback(True)
    assert finding.kind == "extra_unique" and finding.severity == "warning"
    assert "UNIQUE (lower(" in finding.message and "slug" in finding.message
