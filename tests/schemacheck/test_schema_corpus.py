"""The drift corpus: realistic drifts (hand-applied SQL, a failed deploy, a restore), each applied by raw SQL.

For every case: a probe shows the application really breaks (a write the model allows fails, a write it forbids
succeeds, or the query an index serves no longer uses it), checked healthy first and drifted after; the check names
the object; every repair it prints is executed; the check is clean again. One table of cases, both databases
(a case runs where the database has the concept).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

import schemacheck as schema
from events.models import ActivityEvent, Bookmark, Conversation, Message, MessageEvent
from events.models.activity import ProjectAction
from monitoring.models import WorkflowExecution
from projects.models import Membership, Project
from tests.schema_drift import (
    Probe,
    assert_clean,
    bad_write_rejected,
    drifted,
    expected_findings,
    live_table,
    pg_fk,
    remove_sql_clause,
    run_repair,
    sqlite_rebuild,
    uses_index,
    write_works,
)

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"
PG = ("postgresql",)
BOTH = ("postgresql", "sqlite")


# --- the world the probes write into ---------------------------------------------------------------------


@dataclass
class World:
    user: User
    other: User
    project: Project
    conversation: Conversation
    message: Message
    event: ActivityEvent


@pytest.fixture
def world(db):
    user = User.objects.create_user("corpus-user")
    other = User.objects.create_user("corpus-other")
    project = Project.objects.create(name="Corpus", slug="corpus")
    conversation = Conversation.objects.create(project=project, title="c")
    message = Message.objects.create(conversation=conversation, role="user", content="hi")
    event = ActivityEvent.objects.create(
        project=project, user=user, event_type="INDEXING_STARTED", entity_type="repo", title="Running the tests"
    )
    return World(user, other, project, conversation, message, event)


W: World  # set per test, read by the lambdas below


def event(**extra):
    fields = {"project": W.project, "event_type": "INDEXING_STARTED", "entity_type": "repo", "title": "t", **extra}
    return ActivityEvent.objects.create(**fields)


def execution(**extra):
    return WorkflowExecution.objects.create(project=W.project, run_id=extra.pop("run_id", "r1"), workflow_name="ci",
                                            **extra)


def raw(sql, params=()):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run


def rating(feedback, event_type="user_message"):
    return MessageEvent.objects.create(message=W.message, user=W.user, event_type=event_type, feedback=feedback)


def twice(operation):
    def run():
        operation()
        operation()

    return run


# --- drifts ----------------------------------------------------------------------------------------------


def rebuild(table, old, new):
    return lambda: sqlite_rebuild(table, lambda sql: _replace_once(sql, old, new))


def _replace_once(sql, old, new):
    assert old in sql, f"{old!r} not in {sql}"
    return sql.replace(old, new, 1)


def either(pg, sqlite):
    """Statements for the database under test (each a callable, evaluated inside the test)."""
    return lambda: (pg() if POSTGRESQL else sqlite()) if callable(pg if POSTGRESQL else sqlite) else (
        pg if POSTGRESQL else sqlite
    )


def pg_replace_check(table, name, definition):
    return [f"ALTER TABLE {table} DROP CONSTRAINT {name}", f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({definition})"]


def pg_replace_fk(table, column, definition, name=None):
    def statements():
        return [
            f'ALTER TABLE {table} DROP CONSTRAINT "{pg_fk(table, column)}"',
            f'ALTER TABLE {table} ADD CONSTRAINT "{name or table + "_" + column + "_by_hand"}" {definition}',
        ]

    return statements


STATUS_SQLITE = """CONSTRAINT "event_status_valid" CHECK ("status" IN ('IN_PROGRESS', 'COMPLETED', 'FAILED'))"""
USER_FK_SQLITE = '"user_id" integer NULL REFERENCES "auth_user" ("id") ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED'
EXEC_PROJECT_FK_SQLITE = (
    '"project_id" bigint NOT NULL REFERENCES "projects_project" ("id") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED'
)


@dataclass
class Case:
    id: str
    vendors: tuple
    sql: Callable[[], list[str]]
    probe: Callable[[], Probe]
    kind: str
    object: str  # a substring of the finding's object
    message: str = ""  # a substring of its message
    data_fix: Callable[[], list[str]] | None = None  # what a human does first, as the repair's comment says
    also: tuple = field(default_factory=tuple)  # further finding kinds the drift causes


CASES = [
    # --- check constraints, by meaning -----------------------------------------------------------------
    Case(
        "choices-check-rejects-a-new-value", BOTH,
        either(lambda: pg_replace_check("events_activityevent", "event_status_valid", "status IN ('IN_PROGRESS', 'COMPLETED')"),
               rebuild("events_activityevent", STATUS_SQLITE, STATUS_SQLITE.replace(", 'FAILED'", ""))),
        lambda: write_works("a FAILED event can be written", lambda: event(status="FAILED")),
        "check_differs", "events_activityevent.event_status_valid", "still rejects FAILED",
    ),
    Case(
        "choices-check-still-accepts-a-removed-value", BOTH,
        either(lambda: pg_replace_check("events_activityevent", "event_status_valid",
                                        "status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')"),
               rebuild("events_activityevent", STATUS_SQLITE, STATUS_SQLITE.replace("'FAILED'", "'FAILED', 'CANCELLED'"))),
        lambda: bad_write_rejected("status CANCELLED is rejected", raw("UPDATE events_activityevent SET status = 'CANCELLED'")),
        "check_differs", "events_activityevent.event_status_valid", "still accepts CANCELLED",
    ),
    Case(
        "choices-check-of-another-app-rejects-a-value", BOTH,
        either(lambda: pg_replace_check("workflow_executions", "execution_status_valid",
                                        "status IN ('RUNNING', 'SUCCESS', 'FAILED')"),
               rebuild("workflow_executions", "'FAILED', 'CANCELLED'", "'FAILED'")),
        lambda: write_works("a CANCELLED run can be written", lambda: execution(status="CANCELLED")),
        "check_differs", "workflow_executions.execution_status_valid", "CANCELLED",
    ),
    Case(
        "column-check-changed", BOTH,
        either(lambda: [f'ALTER TABLE events_activityevent DROP CONSTRAINT "{_duration_check()}"',
                        "ALTER TABLE events_activityevent ADD CONSTRAINT duration_by_hand CHECK (duration >= 10)"],
               rebuild("events_activityevent", 'CHECK ("duration" >= 0)', 'CHECK ("duration" >= 10)')),
        lambda: write_works("a 5 ms event can be written", lambda: event(duration=5)),
        "check_differs", "events_activityevent.duration", ">= 10",
    ),
    Case(
        "named-check-dropped", BOTH,
        either(["ALTER TABLE project_actions DROP CONSTRAINT action_status_valid"],
               lambda: sqlite_rebuild("project_actions",
                                      lambda s: remove_sql_clause(s, ', CONSTRAINT "action_status_valid" CHECK ('))),
        lambda: bad_write_rejected("an action with status BOGUS is rejected",
                                   lambda: ProjectAction.objects.create(project=W.project, action_type="x", status="BOGUS")),
        "missing_check", "project_actions.action_status_valid",
    ),
    Case(
        "extra-check-added-by-hand", BOTH,
        either(["ALTER TABLE events_activityevent ADD CONSTRAINT title_not_short CHECK (length(title) > 3)"],
               rebuild("events_activityevent", STATUS_SQLITE,
                       STATUS_SQLITE + ', CONSTRAINT "title_not_short" CHECK (length("title") > 3)')),
        lambda: write_works("an event titled 'ok' can be written", lambda: event(title="ok")),
        "extra_check", "events_activityevent", "title",
    ),
    Case(
        "check-not-valid", PG,
        lambda: ["ALTER TABLE events_activityevent DROP CONSTRAINT event_type_valid",
                 "UPDATE events_activityevent SET event_type = 'LEGACY_TYPE'",
                 "ALTER TABLE events_activityevent ADD CONSTRAINT event_type_valid CHECK (event_type IN ("
                 + ", ".join(f"'{v}'" for v in [c[0] for c in ActivityEvent._meta.get_field("event_type").choices or []])
                 + ")) NOT VALID"],
        lambda: Probe("every stored event_type is a known one",
                      lambda: not ActivityEvent.objects.filter(event_type="LEGACY_TYPE").exists()),
        "check_not_valid", "events_activityevent.event_type_valid", "NOT VALID",
        data_fix=lambda: ["UPDATE events_activityevent SET event_type = 'INDEXING_STARTED' WHERE event_type = 'LEGACY_TYPE'"],
    ),
    # --- indexes and unique constraints, by their whole definition --------------------------------------
    Case(
        "partial-unique-lost-its-condition", BOTH,
        lambda: ["DROP INDEX msgevent_one_rating_per_user",
                 "CREATE UNIQUE INDEX msgevent_one_rating_per_user ON events_messageevent (message_id, user_id)"],
        lambda: write_works("two copy events of one user on one message", twice(lambda: rating(None, "copy"))),
        "missing_unique", "events_messageevent.msgevent_one_rating_per_user", "with a condition",
        also=("extra_unique",),
    ),
    Case(
        "partial-unique-condition-narrowed", BOTH,
        lambda: ["DROP INDEX msgevent_one_rating_per_user",
                 "CREATE UNIQUE INDEX msgevent_one_rating_per_user ON events_messageevent (message_id, user_id) "
                 "WHERE event_type = 'user_message' AND feedback = 'helpful'"],
        lambda: bad_write_rejected("a second not_helpful rating is rejected", twice(lambda: rating("not_helpful"))),
        "missing_unique", "events_messageevent.msgevent_one_rating_per_user", "not_helpful",
        also=("extra_unique",),
    ),
    Case(
        "one-of-two-partial-uniques-on-the-same-columns-dropped", BOTH,
        lambda: ["DROP INDEX msgevent_one_need_more_per_user"],
        lambda: bad_write_rejected("a second need_more is rejected", twice(lambda: rating("need_more"))),
        "missing_unique", "events_messageevent.msgevent_one_need_more_per_user",
    ),
    Case(
        "unique-constraint-dropped", BOTH,
        either(["ALTER TABLE workflow_executions DROP CONSTRAINT execution_one_per_run_id"],
               lambda: sqlite_rebuild("workflow_executions",
                                      lambda s: remove_sql_clause(s, ', CONSTRAINT "execution_one_per_run_id" UNIQUE ('))),
        lambda: bad_write_rejected("a second run with the same run_id is rejected", twice(lambda: execution(run_id="same"))),
        "missing_unique", "workflow_executions.execution_one_per_run_id",
    ),
    Case(
        "unique-constraint-on-fewer-columns", BOTH,
        either(["ALTER TABLE projects_membership DROP CONSTRAINT membership_one_per_user_project",
                "ALTER TABLE projects_membership ADD CONSTRAINT membership_one_per_user_project UNIQUE (project_id)"],
               rebuild("projects_membership", 'UNIQUE ("user_id", "project_id")', 'UNIQUE ("project_id")')),
        lambda: write_works("two members in one project", lambda: (
            Membership.objects.create(project=W.project, user=W.user), Membership.objects.create(project=W.project, user=W.other))),
        "missing_unique", "projects_membership.membership_one_per_user_project", "UNIQUE (project_id)",
        also=("extra_unique",),
    ),
    Case(
        # On a plain table: PostgreSQL refuses a unique index without the partition key on the partitioned ones.
        "extra-unique-index-by-hand", BOTH,
        lambda: ["CREATE UNIQUE INDEX execution_workflow_once ON workflow_executions (project_id, workflow_name)"],
        lambda: write_works("two runs of one workflow", lambda: (execution(run_id="a"), execution(run_id="b"))),
        "extra_unique", "workflow_executions.execution_workflow_once", "rejects rows the model allows",
    ),
    Case(
        "composite-index-dropped", BOTH,
        lambda: ["DROP INDEX event_status_created"],
        lambda: uses_index("the status filter of the feed uses its index",
                           lambda: ActivityEvent.objects.filter(status="FAILED").order_by("-created_at", "-id")[:20],
                           "event_status_created"),
        "missing_index", "events_activityevent.event_status_created",
    ),
    Case(
        # PostgreSQL can still seek on a non-leading column; SQLite shows the lost seek in its plan.
        "composite-index-columns-in-another-order", ("sqlite",),
        lambda: ["DROP INDEX execution_status_started",
                 "CREATE INDEX execution_status_started ON workflow_executions (started_at DESC, status)"],
        lambda: uses_index("runs by status use their index",
                           lambda: WorkflowExecution.objects.filter(status="FAILED").order_by("-started_at")[:20],
                           "execution_status_started (status="),
        "missing_index", "workflow_executions.execution_status_started", "the index of that name is",
    ),
    Case(
        "partial-index-lost-its-condition", BOTH,
        lambda: ["DROP INDEX execution_alert_pending",
                 "CREATE INDEX alert_all_completed ON workflow_executions (completed_at)"],
        lambda: uses_index("pending alerts use the partial index",
                           lambda: WorkflowExecution.objects.filter(alert_state="PENDING", completed_at__isnull=False),
                           "execution_alert_pending"),
        "missing_index", "workflow_executions.execution_alert_pending", "PENDING",
    ),
    Case(
        "covering-index-lost-its-include-columns", PG,
        lambda: ["DROP INDEX event_project_created",
                 "CREATE INDEX event_project_created ON events_activityevent (project_id, created_at DESC, id DESC)"],
        lambda: Probe("insights read the index alone", lambda: "Index Only Scan" in _insights_plan()),
        "missing_index", "events_activityevent.event_project_created", "INCLUDE",
    ),
    Case(
        "gin-index-from-a-migration-dropped", PG,
        lambda: ["DROP INDEX event_search_document_gin"],
        lambda: uses_index("search uses the GIN index", lambda: ActivityEvent.objects.search("tests"),
                           "event_search_document_gin"),
        "missing_index", "events_activityevent.event_search_document_gin", "migration events.0007",
    ),
    Case(
        "gin-index-rebuilt-as-btree", PG,
        lambda: ["DROP INDEX event_search_document_gin",
                 "CREATE INDEX event_search_document_gin ON events_activityevent USING btree (search_document)"],
        lambda: uses_index("search uses the GIN index", lambda: ActivityEvent.objects.search("tests"),
                           "event_search_document_gin"),
        "missing_index", "events_activityevent.event_search_document_gin", "USING gin",
    ),
    Case(
        "like-index-dropped", PG,
        lambda: ["DROP INDEX projects_project_slug_2d50067a_like"],
        lambda: uses_index("a slug prefix search uses the pattern-ops index",
                           lambda: Project.objects.filter(slug__startswith="corp"), "_like"),
        "missing_index", "projects_project.projects_project_slug_2d50067a_like", "varchar_pattern_ops",
    ),
    Case(
        # What a CREATE UNIQUE INDEX CONCURRENTLY that failed leaves: the index is there, neither used nor kept.
        "invalid-unique-index-left-by-a-failed-concurrent-build", PG,
        lambda: ["UPDATE pg_index SET indisvalid = false, indisready = false "
                 "WHERE indexrelid = 'execution_one_per_run_id'::regclass"],
        lambda: bad_write_rejected("a second run with the same run_id is rejected", twice(lambda: execution(run_id="same"))),
        "invalid_index", "workflow_executions.execution_one_per_run_id", "INVALID",
    ),
    Case(
        "unique-constraint-made-deferrable", PG,
        lambda: ["ALTER TABLE projects_membership DROP CONSTRAINT membership_one_per_user_project",
                 "ALTER TABLE projects_membership ADD CONSTRAINT membership_one_per_user_project UNIQUE (user_id, "
                 "project_id) DEFERRABLE INITIALLY DEFERRED"],
        lambda: write_works("an upsert of a membership (ON CONFLICT)", lambda: Membership.objects.bulk_create(
            [Membership(project=W.project, user=W.user, role="viewer")], update_conflicts=True,
            unique_fields=["user", "project"], update_fields=["role"])),
        "missing_unique", "projects_membership.membership_one_per_user_project", "DEFERRABLE",
        also=("extra_unique",),
    ),
    # --- foreign keys, completely -----------------------------------------------------------------------
    Case(
        "fk-dropped", BOTH,
        either(lambda: [f'ALTER TABLE workflow_executions DROP CONSTRAINT "{pg_fk("workflow_executions", "project_id")}"'],
               rebuild("workflow_executions", EXEC_PROJECT_FK_SQLITE, '"project_id" bigint NOT NULL')),
        lambda: bad_write_rejected("a run of a project that does not exist is rejected", _orphan_execution),
        "missing_fk", "workflow_executions.project_id", '"projects_project"("id")',
    ),
    Case(
        "fk-on-delete-cascade-lost", BOTH,
        either(pg_replace_fk("workflow_executions", "project_id", "FOREIGN KEY (project_id) REFERENCES projects_project (id) "
                             "DEFERRABLE INITIALLY DEFERRED"),
               rebuild("workflow_executions", EXEC_PROJECT_FK_SQLITE, EXEC_PROJECT_FK_SQLITE.replace(" ON DELETE CASCADE", ""))),
        lambda: write_works("a project with runs can be deleted", lambda: (execution(), _delete_project_now())),
        "fk_on_delete", "workflow_executions.project_id", "ON DELETE NO ACTION",
    ),
    Case(
        "fk-on-delete-set-null-lost", BOTH,
        either(pg_replace_fk("events_activityevent", "user_id", "FOREIGN KEY (user_id) REFERENCES auth_user (id) "
                             "DEFERRABLE INITIALLY DEFERRED"),
               rebuild("events_activityevent", USER_FK_SQLITE, USER_FK_SQLITE.replace(" ON DELETE SET NULL", ""))),
        lambda: write_works("a user with events can be deleted", lambda: _delete_now(User.objects.get(pk=W.user.pk))),
        "fk_on_delete", "events_activityevent.user_id", "needs ON DELETE SET NULL",
    ),
    Case(
        "fk-not-deferrable", BOTH,
        either(pg_replace_fk("events_activityevent", "user_id", "FOREIGN KEY (user_id) REFERENCES auth_user (id) "
                             "ON DELETE SET NULL"),
               rebuild("events_activityevent", USER_FK_SQLITE, USER_FK_SQLITE.replace(" DEFERRABLE INITIALLY DEFERRED", ""))),
        lambda: write_works("an event may name its user before the user row is written", _event_before_its_user),
        "fk_not_deferrable", "events_activityevent.user_id", "NOT DEFERRABLE",
    ),
    Case(
        "fk-deferrable-initially-immediate", PG,
        pg_replace_fk("events_activityevent", "user_id", "FOREIGN KEY (user_id) REFERENCES auth_user (id) "
                      "ON DELETE SET NULL DEFERRABLE INITIALLY IMMEDIATE"),
        lambda: write_works("an event may name its user before the user row is written", _event_before_its_user),
        "fk_not_deferrable", "events_activityevent.user_id", "INITIALLY IMMEDIATE",
    ),
    Case(
        "fk-not-valid", PG,
        lambda: [f'ALTER TABLE events_bookmark DROP CONSTRAINT "{pg_fk("events_bookmark", "message_id")}"',
                 "INSERT INTO events_bookmark (user_id, message_id, created_at) "
                 f"VALUES ({W.user.pk}, 999999, now())",
                 "SET CONSTRAINTS ALL IMMEDIATE",
                 "ALTER TABLE events_bookmark ADD CONSTRAINT bookmark_message_by_hand FOREIGN KEY (message_id) REFERENCES "
                 "events_message (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED NOT VALID"],
        lambda: Probe("every bookmark points at a message", lambda: _count(
            "SELECT count(*) FROM events_bookmark b WHERE NOT EXISTS "
            "(SELECT 1 FROM events_message m WHERE m.id = b.message_id)") == 0),
        "fk_not_valid", "events_bookmark.message_id", "NOT VALID",
        data_fix=lambda: ["DELETE FROM events_bookmark WHERE message_id = 999999"],
    ),
    Case(
        "fk-points-at-another-table", PG,
        pg_replace_fk("events_bookmark", "message_id", "FOREIGN KEY (message_id) REFERENCES events_conversation (id) "
                      "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"),
        lambda: write_works("a bookmark of a message", _bookmark_of_a_fresh_message),
        "fk_target", "events_bookmark.message_id", '"events_conversation"(id)',
    ),
    Case(
        "fk-points-at-a-copy-in-another-schema", PG,
        lambda: ["CREATE SCHEMA archive",
                 "CREATE TABLE archive.projects_project (LIKE projects_project INCLUDING ALL)",
                 "INSERT INTO archive.projects_project SELECT * FROM projects_project",
                 *pg_replace_fk("events_activityevent", "project_id", "FOREIGN KEY (project_id) REFERENCES "
                                "archive.projects_project (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED")()],
        lambda: write_works("an event of a new project", lambda: (
            event(project=Project.objects.create(name="new", slug="new")), _check_constraints_now())),
        "fk_target", "events_activityevent.project_id", '"archive"."projects_project"',
    ),
    # --- columns ----------------------------------------------------------------------------------------
    Case(
        "nullable-column-made-not-null", BOTH,
        either(["UPDATE events_activityevent SET description = ''",
                "ALTER TABLE events_activityevent ALTER COLUMN description SET NOT NULL"],
               lambda: ["UPDATE events_activityevent SET description = ''", *rebuild(
                   "events_activityevent", '"description" text NULL', '"description" text NOT NULL')()]),
        lambda: write_works("an event without a description", lambda: event(description=None)),
        "column_null", "events_activityevent.description", "expects NULL",
    ),
    Case(
        "column-dropped", BOTH,
        lambda: ["ALTER TABLE workflow_executions DROP COLUMN error_message"],
        lambda: write_works("runs can be listed", lambda: list(WorkflowExecution.objects.all())),
        "missing_column", "workflow_executions.error_message",
    ),
    Case(
        "extra-not-null-column", BOTH,
        either(["ALTER TABLE events_bookmark ADD COLUMN legacy_code varchar(8) NOT NULL DEFAULT 'x'",
                "ALTER TABLE events_bookmark ALTER COLUMN legacy_code DROP DEFAULT"],
               rebuild("events_bookmark", '"created_at" datetime NOT NULL',
                       '"created_at" datetime NOT NULL, "legacy_code" varchar(8) NOT NULL')),
        lambda: write_works("a bookmark can be written", _bookmark_of_a_fresh_message),
        "extra_column", "events_bookmark.legacy_code", "AND THE DATA IT HOLDS",
    ),
    Case(
        "extra-not-null-column-with-an-index", BOTH,
        lambda: [*(["ALTER TABLE events_bookmark ADD COLUMN legacy_code varchar(8) NOT NULL DEFAULT 'x'",
                    "ALTER TABLE events_bookmark ALTER COLUMN legacy_code DROP DEFAULT"] if POSTGRESQL else
                   sqlite_rebuild("events_bookmark", lambda s: s.replace(
                       '"created_at" datetime NOT NULL', '"created_at" datetime NOT NULL, "legacy_code" varchar(8) NOT NULL'))),
                 "CREATE INDEX bookmark_legacy_code ON events_bookmark (legacy_code)"],
        lambda: write_works("a bookmark can be written", _bookmark_of_a_fresh_message),
        "extra_column", "events_bookmark.legacy_code",
    ),
    Case(
        "column-type-narrowed", PG,
        lambda: ["ALTER TABLE events_activityevent ALTER COLUMN entity_id TYPE varchar(16)"],
        lambda: write_works("an event with a 100-character entity id", lambda: event(entity_id="e" * 100)),
        "column_type", "events_activityevent.entity_id", "expects varchar(128)",
    ),
    Case(
        "generated-search-document-with-another-expression", PG,
        lambda: ["DROP INDEX event_search_document_gin",
                 "ALTER TABLE events_activityevent DROP COLUMN search_document",
                 "ALTER TABLE events_activityevent ADD COLUMN search_document tsvector GENERATED ALWAYS AS "
                 "(to_tsvector('simple'::regconfig, coalesce(title, ''))) STORED",
                 "CREATE INDEX event_search_document_gin ON events_activityevent USING gin (search_document)"],
        lambda: Probe("search finds 'run' in 'Running the tests' (stemmed)",
                      lambda: ActivityEvent.objects.search("run").filter(pk=W.event.pk).exists()),
        "generated_column", "events_activityevent.search_document", "to_tsvector('simple'",
    ),
    Case(
        "generated-search-document-made-a-plain-column", PG,
        lambda: ["ALTER TABLE events_activityevent DROP COLUMN search_document",
                 "ALTER TABLE events_activityevent ADD COLUMN search_document tsvector",
                 "CREATE INDEX event_search_document_gin ON events_activityevent USING gin (search_document)"],
        lambda: Probe("search finds 'Running the tests'",
                      lambda: ActivityEvent.objects.search("tests").filter(pk=W.event.pk).exists()),
        "generated_column", "events_activityevent.search_document", "a plain column",
    ),
    Case(
        "identity-generated-always", PG,
        lambda: ["ALTER TABLE events_conversation ALTER COLUMN id SET GENERATED ALWAYS"],
        lambda: write_works("a conversation with an explicit id (fixtures, restores)",
                            lambda: Conversation.objects.create(id=424242, project=W.project, title="n")),
        "identity_always", "events_conversation.id", "GENERATED ALWAYS",
    ),
    Case(
        "identity-dropped", PG,
        lambda: ["ALTER TABLE projects_project ALTER COLUMN id DROP IDENTITY"],
        lambda: write_works("a project can be created", lambda: Project.objects.create(name="n", slug="n")),
        "missing_identity", "projects_project.id",
    ),
    Case(
        "sequence-behind-the-largest-id", PG,
        lambda: ["INSERT INTO events_conversation (id, project_id, title, created_at) "
                 f"SELECT n, {W.project.pk}, 'restored', now() FROM generate_series(1000, 1009) n",
                 "SELECT setval(pg_get_serial_sequence('events_conversation', 'id'), 999)"],
        lambda: write_works("a conversation can be created", lambda: Conversation.objects.create(project=W.project, title="n")),
        "sequence_behind", "events_conversation.id", "largest id is 1009",
    ),
    Case(
        "primary-key-dropped", PG,
        lambda: ["ALTER TABLE events_bookmark DROP CONSTRAINT events_bookmark_pkey"],
        lambda: bad_write_rejected("a second bookmark with the same id is rejected", (raw(
            "INSERT INTO events_bookmark (id, user_id, message_id, created_at) "
            "SELECT 77, id, %s, now() FROM auth_user WHERE id IN (%s, %s)", [W.message.pk, W.user.pk, W.other.pk]))),
        "primary_key", "events_bookmark", "is (none)",
    ),
    # --- tables renamed or moved ------------------------------------------------------------------------
    Case(
        "table-renamed", BOTH,
        lambda: ["ALTER TABLE events_bookmark RENAME TO bookmarks_before_the_rewrite"],
        lambda: write_works("bookmarks can be listed", lambda: list(Bookmark.objects.all())),
        "renamed_table", "events_bookmark", '"bookmarks_before_the_rewrite"',
    ),
    Case(
        "table-with-rows-renamed", BOTH,
        lambda: [f"INSERT INTO workflow_executions (run_id, workflow_name, status, started_at, created_at, updated_at, "
                 f"project_id) VALUES ('kept', 'ci', 'SUCCESS', '2026-01-01', '2026-01-01', '2026-01-01', {W.project.pk})",
                 "ALTER TABLE workflow_executions RENAME TO workflow_executions_old"],
        lambda: write_works("runs can be listed", lambda: list(WorkflowExecution.objects.all())),
        "renamed_table", "workflow_executions", "workflow_executions_old",
    ),
    Case(
        "table-moved-to-another-schema", PG,
        lambda: ["CREATE SCHEMA archive", "ALTER TABLE events_bookmark SET SCHEMA archive"],
        lambda: write_works("bookmarks can be listed", lambda: list(Bookmark.objects.all())),
        "renamed_table", "events_bookmark", "moved to another schema",
    ),
    Case(
        "table-renamed-and-moved", PG,
        lambda: ["CREATE SCHEMA archive", "ALTER TABLE events_bookmark SET SCHEMA archive",
                 "ALTER TABLE archive.events_bookmark RENAME TO old_bookmarks"],
        lambda: write_works("bookmarks can be listed", lambda: list(Bookmark.objects.all())),
        "renamed_table", "events_bookmark", "renamed and moved",
    ),
    # --- migration history, both ways -------------------------------------------------------------------
    Case(
        "migration-records-of-an-app-lost", BOTH,
        lambda: ["DELETE FROM django_migrations WHERE app = 'monitoring'"],
        lambda: write_works("migrate has nothing to do", lambda: call_command("migrate", "monitoring", verbosity=0)),
        "migration_records", "django_migrations", "monitoring.0001_monitoring_tables",
    ),
    Case(
        "migration-records-lost-under-applied-dependants", BOTH,
        lambda: ["DELETE FROM django_migrations WHERE app = 'projects'"],
        lambda: write_works("migrate has nothing to do", lambda: call_command("migrate", verbosity=0)),
        "migration_history", "django_migrations", "projects.0001_initial",
    ),
    Case(
        "database-ahead-of-the-code", BOTH,
        lambda: ["INSERT INTO django_migrations (app, name, applied) VALUES "
                 "('events', '0099_bookmark_folder', CURRENT_TIMESTAMP)",
                 *(["ALTER TABLE events_bookmark ADD COLUMN folder varchar(32) NOT NULL DEFAULT 'inbox'",
                    "ALTER TABLE events_bookmark ALTER COLUMN folder DROP DEFAULT"] if POSTGRESQL else
                   sqlite_rebuild("events_bookmark", lambda s: s.replace('"created_at" datetime NOT NULL',
                                                                       '"created_at" datetime NOT NULL, "folder" varchar(32) NOT NULL')))],
        lambda: write_works("a bookmark can be written", _bookmark_of_a_fresh_message),
        "migration_ahead", "events.0099_bookmark_folder", "newer release", also=("extra_column",),
    ),
]


def _count(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _duration_check():
    return next(c.name for c in live_table("events_activityevent").checks if c.columns == ("duration",))


def _insights_plan():
    since = timezone.now() - timedelta(days=90)
    qs = ActivityEvent.objects.filter(project=W.project, created_at__gte=since).values("event_type", "status", "duration")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
        try:
            return qs.explain()
        finally:
            cursor.execute("SELECT set_config('enable_seqscan', 'on', true)")


def _check_constraints_now():
    # What a commit would check: deferred foreign keys (PostgreSQL: SET CONSTRAINTS; SQLite: foreign_key_check).
    connection.check_constraints()


def _delete_now(obj):
    obj.delete()
    _check_constraints_now()


def _delete_project_now():
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM projects_project WHERE id = %s", [W.project.pk])
    _check_constraints_now()


def _orphan_execution():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workflow_executions (run_id, workflow_name, status, started_at, created_at, updated_at, "
            "project_id) VALUES ('o', 'ci', 'SUCCESS', '2026-01-01', '2026-01-01', '2026-01-01', 987654)"
        )
    _check_constraints_now()


def _event_before_its_user():
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) + 1000 FROM auth_user")
        future = cursor.fetchone()[0]
    event(user_id=future)
    User.objects.create(id=future, username=f"later-{future}")
    _check_constraints_now()


def _bookmark_of_a_fresh_message():
    message = Message.objects.create(conversation=W.conversation, role="user", content="x")
    Bookmark.objects.create(user=W.other, message=message)
    _check_constraints_now()


def _sqlite_fk_pragma():
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_key_check")
            assert cursor.fetchall() == []


def _cases_for(vendor):
    return [pytest.param(case, id=case.id) for case in CASES if vendor in case.vendors]


def test_the_corpus_is_at_least_forty_cases_on_postgresql_and_covers_sqlite_where_it_has_the_concept():
    assert len([c for c in CASES if "postgresql" in c.vendors]) >= 40
    assert len([c for c in CASES if "sqlite" in c.vendors]) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", _cases_for(connection.vendor))
def test_drift_breaks_the_application_is_found_and_its_printed_repair_makes_the_check_clean(case, world):
    global W
    W = world
    assert_clean()
    probe = case.probe()
    assert probe.works(), f"healthy database: {probe.describe} should hold"
    with drifted(*case.sql()):
        assert not probe.works(), f"the drift should break: {probe.describe}"
        report = schema.check()
        expected_findings(report, case.kind, case.object, case.message, case.also)
        for statement in case.data_fix() if case.data_fix else ():
            with connection.cursor() as cursor:
                cursor.execute(statement)
        _check_constraints_now()  # PostgreSQL refuses ALTER TABLE while deferred checks are pending
        for finding in report.findings:
            run_repair(finding.repair)
        assert_clean()
        assert probe.works(), f"after the repair: {probe.describe} should hold again"
        _sqlite_fk_pragma()
    assert_clean()
