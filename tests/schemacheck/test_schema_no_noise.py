"""What check_schema must not call drift: healthy databases in all the shapes they are found in."""

import io
import json
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

import schemacheck as schema
from events.models import ActivityEvent
from tests.schema_drift import assert_clean, drifted, findings, run_repair

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"
only_postgresql = pytest.mark.skipif(not POSTGRESQL, reason="a PostgreSQL concept")


@pytest.fixture(autouse=True)
def database_left_as_found():
    assert_clean()
    yield
    assert_clean()


def test_database_with_demo_data_has_no_error_and_its_past_months_get_partitions_of_their_own():
    call_command("demo_data", stdout=io.StringIO())
    assert ActivityEvent.objects.exists()
    before = ActivityEvent.objects.count()
    report = schema.check()
    assert report.errors == [], [f.message for f in report.errors]
    if not POSTGRESQL:
        assert report.findings == []
        return
    # The demo writes the last 30 days: rows of last month land in the DEFAULT partition (a warning, not drift).
    assert {f.kind for f in report.warnings} <= {"rows_in_default"}
    for finding in report.findings:
        run_repair(finding.repair)
    assert_clean()
    assert ActivityEvent.objects.count() == before


def test_choices_check_with_its_values_in_another_order_is_not_drift():
    if POSTGRESQL:
        statements = [
            "ALTER TABLE events_activityevent DROP CONSTRAINT event_status_valid",
            "ALTER TABLE events_activityevent ADD CONSTRAINT event_status_valid "
            "CHECK (status IN ('FAILED', 'IN_PROGRESS', 'COMPLETED'))",
        ]
    else:
        from tests.schema_drift import sqlite_rebuild

        statements = sqlite_rebuild("events_activityevent", lambda sql: sql.replace(
            "('IN_PROGRESS', 'COMPLETED', 'FAILED')", "('FAILED', 'IN_PROGRESS', 'COMPLETED')"))
    with drifted(*statements):
        assert findings() == []


@only_postgresql
def test_checks_and_indexes_recreated_from_their_own_rendering_are_not_drift():
    # What a restore does: every check and partial index is re-created from the text PostgreSQL printed for it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
            "JOIN pg_class c ON c.oid = con.conrelid WHERE con.contype = 'c' AND pg_table_is_visible(c.oid)"
            " AND NOT c.relispartition"  # a partition's checks and indexes are its parent's: restored with it
        )
        checks = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid WHERE x.indpred IS NOT NULL AND pg_table_is_visible(t.oid) AND NOT t.relispartition "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.oid)"
        )
        partial = cursor.fetchall()
    statements = [
        s for table, name, definition in checks for s in (
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"', f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
        )
    ] + [s for name, definition in partial for s in (f'DROP INDEX "{name}"', definition.replace(" ON ONLY ", " ON "))]
    assert len(checks) > 10 and partial
    with drifted(*statements):
        assert findings() == []


def _pg_args():
    host = ["-h", connection.settings_dict["HOST"] or "127.0.0.1", "-p", str(connection.settings_dict["PORT"] or 5432),
            "-U", connection.settings_dict["USER"] or "postgres"]
    return host, {**os.environ, "PGPASSWORD": connection.settings_dict.get("PASSWORD") or ""}


@contextmanager
def restored_copy(*createdb_options):
    """This test database, dumped with pg_dump and restored with pg_restore into a new one; yields its URL."""
    source = connection.settings_dict["NAME"]
    target = f"{source}_restore_{uuid.uuid4().hex[:8]}"  # beside the test database, under its name
    host, env = _pg_args()
    subprocess.run(["createdb", *host, *createdb_options, target], check=True, env=env, timeout=60)
    try:
        dump = subprocess.run(["pg_dump", *host, "-Fc", source], check=True, capture_output=True, env=env, timeout=120)
        subprocess.run(["pg_restore", *host, "--no-owner", "-d", target], input=dump.stdout, check=True, env=env,
                       timeout=120)
        yield f"postgres://{host[5]}@{host[1]}:{host[3]}/{target}"
    finally:
        subprocess.run(["dropdb", *host, "--force", target], env=env, timeout=60)


def manage(url, *args):
    _, env = _pg_args()
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, capture_output=True, text=True,
                          env={**env, "DATABASE_URL": url}, timeout=180)


@only_postgresql
def test_database_restored_by_pg_dump_and_pg_restore_is_clean(project):
    # Rows in this month's partition and in the DEFAULT one (far ahead) travel with the dump.
    _event(project)
    ActivityEvent.objects.create(project=project, event_type="INDEXING_STARTED", entity_type="r", title="far",
                                 created_at=datetime(2200, 1, 1, tzinfo=UTC))
    with restored_copy() as url:
        result = manage(url, "check_schema")
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("Schema OK:")


@only_postgresql
def test_database_created_with_another_locale_is_one_warning_and_exit_code_3_unless_ci_fails_on_errors_only():
    with connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = 'template1'")
        (server_default,) = cursor.fetchone()
    if server_default in {"C", "POSIX"}:
        pytest.skip("the server's default locale is C already: no other locale is sure to exist")
    with restored_copy("-T", "template0", "--lc-collate=C", "--lc-ctype=C") as url:
        # What changes for the app: icontains / iexact compare upper() of both sides, and upper('é') differs.
        import psycopg

        with psycopg.connect(url.replace("postgres://", "postgresql://")) as other:
            assert other.execute("SELECT upper('équipe')").fetchone() == ("éQUIPE",)
        with connection.cursor() as cursor:
            cursor.execute("SELECT upper('équipe')")
            assert cursor.fetchone()[0] == "ÉQUIPE"
        result = manage(url, "check_schema", "--format", "json")
        assert result.returncode == 3, result.stdout + result.stderr
        report = json.loads(result.stdout)
        [finding] = report["findings"]
        assert (finding["kind"], finding["severity"]) == ("database_locale", "warning")
        assert "LC_COLLATE=C" in finding["message"] and server_default in finding["message"]
        assert (report["errors"], report["warnings"]) == (0, 1)
        assert manage(url, "check_schema", "--fail-on", "error").returncode == 0


@only_postgresql
def test_legacy_serial_id_column_is_not_drift():
    statements = [
        "ALTER TABLE events_conversation ALTER COLUMN id DROP IDENTITY",
        "CREATE SEQUENCE events_conversation_id_seq OWNED BY events_conversation.id",
        "ALTER TABLE events_conversation ALTER COLUMN id SET DEFAULT nextval('events_conversation_id_seq')",
    ]
    with drifted(*statements):
        assert findings() == []


def test_unrelated_tables_views_triggers_and_indexes_are_not_drift():
    statements = [
        "CREATE TABLE reporting_snapshot (id integer PRIMARY KEY, taken_at timestamp, body text)",
        "CREATE VIEW failed_events AS SELECT id, title FROM events_activityevent WHERE status = 'FAILED'",
        "CREATE INDEX reporting_lower_title ON events_activityevent (lower(title))",
        "CREATE INDEX reporting_failed_only ON events_activityevent (project_id) WHERE status = 'FAILED'",
    ]
    if POSTGRESQL:
        statements += [
            "CREATE SCHEMA reporting",
            "CREATE TABLE reporting.events_copy (id bigint, title text)",
            "CREATE FUNCTION touch_title() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            "CREATE TRIGGER touch BEFORE UPDATE ON events_activityevent FOR EACH ROW EXECUTE FUNCTION touch_title()",
            "CREATE MATERIALIZED VIEW event_counts AS SELECT project_id, count(*) FROM events_activityevent GROUP BY 1",
        ]
    else:
        statements.append(
            "CREATE TRIGGER touch AFTER UPDATE ON events_activityevent BEGIN SELECT 1; END"
        )
    with drifted(*statements):
        assert findings() == []


def test_migrating_an_app_to_zero_and_back_leaves_no_drift():
    call_command("migrate", "monitoring", "zero", verbosity=0)
    call_command("migrate", "events", "0006", verbosity=0)
    call_command("migrate", verbosity=0)
    assert_clean()


@only_postgresql
def test_rendering_the_expected_schema_leaves_nothing_behind():
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        path = cursor.fetchone()[0]
    schema.render._CACHE.clear()  # force PostgreSQL to render again
    with drifted("ALTER TABLE events_activityevent DROP CONSTRAINT event_status_valid"):
        assert [f.kind for f in schema.check().findings] == ["missing_check"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()")
            assert cursor.fetchone()[0] == 0
            cursor.execute("SHOW search_path")
            assert cursor.fetchone()[0] == path


# --- a table partitioned by month (how the activity events are meant to scale) ---------------------------


def _month(year, month):
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def partition_by_month(model, column, months, default=True):
    """Raw SQL turning the model's table into a declaratively partitioned one (RANGE by month) keeping its rows.

    Every unique key gains the partition column (PostgreSQL requires it); the id keeps a sequence (identity columns
    on partitioned tables need PostgreSQL 17)."""
    table = model._meta.db_table
    editor = connection.schema_editor(collect_sql=True)
    editor.deferred_sql = []
    sql, params = editor.table_sql(model)
    sql = sql % tuple(map(editor.quote_value, params or ()))
    sql = sql.replace(
        '"id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY',
        f"\"id\" bigint NOT NULL DEFAULT nextval('{table}_id_seq')",
    )
    sql = sql[: sql.rindex(")")] + f', PRIMARY KEY ("id", "{column}")) PARTITION BY RANGE ("{column}")'
    # The index statements Django would write for the model (no public API gives them without executing).
    indexes = [str(s) for s in editor._model_indexes_sql(model)] + [  # type: ignore[attr-defined]
str(s) for s in editor.deferred_sql]
    indexes = [s.replace('("project_id", "external_id")', f'("project_id", "external_id", "{column}")')
               for s in indexes]
    from django.contrib.postgres.indexes import GinIndex

    indexes.append(str(GinIndex(fields=["search_document"], name="event_search_document_gin").create_sql(model, editor)))
    plain = [f.column for f in model._meta.local_concrete_fields if not f.generated]
    cols = ", ".join(f'"{c}"' for c in plain)
    statements = [
        f"CREATE TEMP TABLE partition_rows AS SELECT {cols} FROM {table}",
        "SET CONSTRAINTS ALL IMMEDIATE",
        f"DROP TABLE {table}",
        f"CREATE SEQUENCE {table}_id_seq",
        sql,
        f'ALTER SEQUENCE {table}_id_seq OWNED BY {table}."id"',
    ]
    for start in months:
        end = _month(start.year, start.month + 1)
        statements.append(
            f"CREATE TABLE {table}_p{start:%Y%m} PARTITION OF {table} FOR VALUES FROM ('{start.isoformat()}') "
            f"TO ('{end.isoformat()}')"
        )
    if default:
        statements.append(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    statements += indexes
    statements += [
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM partition_rows",
        f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)",
        "DROP TABLE partition_rows",
    ]
    return statements


def _around_now():
    now = datetime.now(UTC)
    return [_month(now.year, now.month - 1), _month(now.year, now.month), _month(now.year, now.month + 1)]


def _event(project):
    return ActivityEvent.objects.create(project=project, event_type="INDEXING_STARTED", entity_type="r", title="t")


@only_postgresql
def test_activity_events_partitioned_by_month_are_clean(project):
    _event(project)
    with drifted(*partition_by_month(ActivityEvent, "created_at", _around_now())):
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'events_activityevent'")
            assert cursor.fetchone()[0] == "p"
        assert ActivityEvent.objects.count() == 1
        _event(project)
        assert findings() == []


@only_postgresql
def test_missing_partition_for_now_is_found_and_its_repair_accepts_writes_again(project):
    months = _around_now()
    with drifted(*partition_by_month(ActivityEvent, "created_at", [months[0], months[2]], default=False)):
        with pytest.raises(Exception, match="no partition"), transaction.atomic():
            _event(project)
        found = findings()
        assert [f.kind for f in found] == ["missing_default_partition", "missing_partition"]
        assert all(f.object == "events_activityevent" and f.severity == "error" for f in found)
        assert f"this month ({months[1]:%Y-%m})" in found[1].message and "every insert" in found[1].message
        for finding in found:  # one run of the printed repairs fixes both
            run_repair(finding.repair)
        _event(project)
        assert findings() == []
