"""What check_schema detects beyond the past incidents, and what it must not call drift."""

import pytest
from django.db import connection

import schemacheck as schema
from tests.schema_drift import assert_clean, drifted, findings, live_table, remove_sql_clause, sqlite_rebuild

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def database_left_as_found():
    assert_clean()
    yield
    assert_clean()


def test_freshly_migrated_database_of_every_installed_app_has_no_findings():
    report = schema.check()
    assert report.ok and report.findings == []
    assert report.migrations_applied
    # Third-party apps are covered too, not only ours.
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    for table in ["auth_user", "django_admin_log", "django_session", "django_content_type",
                  "django_tasks_database_dbtaskresult", "events_activityevent", "projects_project"]:
        assert table in tables
    assert report.tables_checked >= 20


def test_dropped_column_is_missing_and_rebuilt_by_the_repair():
    with drifted('ALTER TABLE events_activityevent DROP COLUMN "entity_type"'):
        [finding] = findings("missing_column")
    assert finding.object == "events_activityevent.entity_type"
    assert "events.ActivityEvent.entity_type" in finding.message
    assert "entity_type" in finding.repair


def test_extra_not_null_column_is_reported_with_its_consequence():
    with drifted('ALTER TABLE events_conversation ADD COLUMN "legacy_flag" integer NOT NULL DEFAULT 0'):
        [finding] = findings("extra_column")
    assert finding.object == "events_conversation.legacy_flag"
    assert "NOT NULL" in finding.message
    assert 'DROP COLUMN "legacy_flag"' in finding.repair


def _alter_column(pg_statement, sqlite_from, sqlite_to):
    if POSTGRESQL:
        return [pg_statement]
    return sqlite_rebuild("events_activityevent", lambda sql: sql.replace(sqlite_from, sqlite_to))


def test_column_type_mismatch_is_reported():
    # entity_type, not title: PostgreSQL cannot retype a column the stored search document is generated from.
    statements = _alter_column(
        "ALTER TABLE events_activityevent ALTER COLUMN entity_type TYPE varchar(32)",
        '"entity_type" varchar(64)',
        '"entity_type" varchar(32)',
    )
    with drifted(*statements):
        [finding] = findings("column_type")
    assert finding.object == "events_activityevent.entity_type"
    assert "varchar(64)" in finding.message


def test_nullability_mismatch_is_reported():
    statements = _alter_column(
        "ALTER TABLE events_activityevent ALTER COLUMN title DROP NOT NULL",
        '"title" varchar(255) NOT NULL',
        '"title" varchar(255) NULL',
    )
    with drifted(*statements):
        [finding] = findings("column_null")
    assert finding.object == "events_activityevent.title"
    assert "is NULL in the database" in finding.message and "expects NOT NULL" in finding.message
    if POSTGRESQL:
        assert finding.repair == 'ALTER TABLE "events_activityevent" ALTER COLUMN "title" SET NOT NULL;'


def test_missing_check_constraint_is_reported_by_name():
    if POSTGRESQL:
        statements = ["ALTER TABLE events_activityevent DROP CONSTRAINT event_type_valid"]
    else:
        statements = sqlite_rebuild(
            "events_activityevent", lambda sql: remove_sql_clause(sql, ', CONSTRAINT "event_type_valid" CHECK (')
        )
    with drifted(*statements):
        [finding] = findings("missing_check")
    assert finding.object == "events_activityevent.event_type_valid"
    assert 'check constraint "event_type_valid"' in finding.message


def test_missing_column_check_of_positive_integer_field_is_reported():
    if POSTGRESQL:
        name = next(c.name for c in live_table("events_activityevent").checks if c.columns == ("duration",))
        statements = [f'ALTER TABLE events_activityevent DROP CONSTRAINT "{name}"']
    else:
        statements = sqlite_rebuild(
            "events_activityevent", lambda sql: sql.replace(' CHECK ("duration" >= 0)', "")
        )
    with drifted(*statements):
        [finding] = findings("missing_check")
    assert finding.object == "events_activityevent.duration"


def test_missing_foreign_key_is_reported():
    if POSTGRESQL:
        fk = next(f for f in live_table("events_message").foreign_keys if f.columns == ("conversation_id",))
        statements = [f'ALTER TABLE events_message DROP CONSTRAINT "{fk.name}"']
    else:
        statements = sqlite_rebuild(
            "events_message",
            lambda sql: sql.replace(
                ' REFERENCES "events_conversation" ("id") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED', ""
            ),
        )
    with drifted(*statements):
        [finding] = findings("missing_fk")
    assert finding.object == "events_message.conversation_id"
    assert '"events_conversation"("id")' in finding.message


def test_index_is_matched_by_columns_not_by_name():
    # The same index under another name is fine…
    statements = [
        "DROP INDEX event_project_type_created",
        "CREATE INDEX renamed_by_hand ON events_activityevent (project_id, event_type, created_at DESC, id DESC)",
    ]
    with drifted(*statements):
        assert findings() == []


@pytest.mark.parametrize(
    "columns",
    ["event_type, project_id, created_at DESC, id DESC", "project_id, event_type, created_at, id"],
    ids=["columns-in-another-order", "ascending-instead-of-descending"],
)
def test_index_with_other_column_order_or_direction_does_not_count(columns):
    statements = [
        "DROP INDEX event_project_type_created",
        f"CREATE INDEX event_project_type_created ON events_activityevent ({columns})",
    ]
    with drifted(*statements):
        [finding] = findings("missing_index")
    assert finding.object == "events_activityevent.event_project_type_created"
    # The index of that name has other columns: the repair drops it first.
    assert "DROP INDEX" in finding.repair


def test_partial_unique_constraint_needs_its_condition():
    drop = (
        "ALTER TABLE events_activityevent DROP CONSTRAINT IF EXISTS event_external_id_unique"
        if POSTGRESQL
        else "SELECT 1"
    )
    statements = [drop, "DROP INDEX IF EXISTS event_external_id_unique"]
    with drifted(*statements):
        [finding] = findings("missing_unique")
        assert finding.object == "events_activityevent.event_external_id_unique"
        assert "with a condition" in finding.message
    # A unique index on the same columns without the condition is a different rule: still reported.
    # (On PostgreSQL the table is partitioned by created_at: every unique index there must hold it.)
    keys = "project_id, external_id, created_at" if POSTGRESQL else "project_id, external_id"
    with drifted(*statements, f"CREATE UNIQUE INDEX full_unique ON events_activityevent ({keys})"):
        assert [f.object for f in findings("missing_unique")] == ["events_activityevent.event_external_id_unique"]


def test_extra_expression_and_partial_indexes_are_not_drift():
    # Indexes added by hand or by RunSQL/RunPython (e.g. a GIN full-text index) are extras, never drift.
    statements = [
        "CREATE INDEX extra_lower_title ON events_activityevent (lower(title))",
        "CREATE INDEX extra_failed_only ON events_activityevent (project_id) WHERE status = 'FAILED'",
    ]
    if POSTGRESQL:
        statements.append("CREATE INDEX extra_gin ON events_activityevent USING gin (to_tsvector('simple', title))")
    with drifted(*statements):
        assert findings() == []


def test_unapplied_migration_is_reported_with_the_command_to_apply_it():
    with drifted("DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'"):
        report = schema.check()
    [finding] = report.findings
    assert finding.kind == "migration_records" and "sessions.0001_initial" in finding.message
    # Its table is there (the record alone was lost): migrate would fail, so the repair only records it.
    assert "already has what they create (django_session)" in finding.message
    assert finding.repair.startswith("manage.py migrate sessions 0001_initial --fake")
    assert not report.migrations_applied


@pytest.mark.skipif(not POSTGRESQL, reason="SQLite's INTEGER PRIMARY KEY always generates ids (a type change is caught)")
def test_auto_id_column_without_identity_is_reported():
    with drifted("ALTER TABLE events_conversation ALTER COLUMN id DROP IDENTITY"):
        [finding] = findings("missing_identity")
    assert finding.object == "events_conversation.id"
    assert "ADD GENERATED BY DEFAULT AS IDENTITY" in finding.repair


def test_unapplied_migration_whose_tables_are_missing_is_applied_normally():
    statements = [
        "DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'",
        "DROP TABLE django_session",
    ]
    with drifted(*statements):
        [finding] = findings()
    assert finding.kind == "unapplied_migration"
    assert finding.repair == "manage.py migrate sessions 0001_initial"
