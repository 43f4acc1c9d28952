"""Each past incident's post-mortem, reproduced on the real test database, is reported with a message naming the object."""

import re

import pytest
from django.core.management import call_command
from django.db import connection, models

from events.models import ActivityEvent
from tests.schema_drift import assert_clean, camel, drifted, findings, live_table, message_fk_without_cascade

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def database_left_as_found():
    assert_clean()
    yield
    assert_clean()


def test_dropped_activity_event_table_is_reported():
    with drifted(f"DROP TABLE events_activityevent{' CASCADE' if POSTGRESQL else ''}"):
        [finding] = findings("missing_table", "events_activityevent")
    assert "events.ActivityEvent" in finding.message
    assert 'table "events_activityevent"' in finding.message
    # The repair is the DDL Django would run, indexes included.
    assert "CREATE TABLE" in finding.repair and "event_project_type_created" in finding.repair


def test_dropped_composite_index_is_reported_with_its_columns():
    with drifted("DROP INDEX event_project_type_created"):
        [finding] = findings("missing_index")
    assert finding.object == "events_activityevent.event_project_type_created"
    assert "(project_id, event_type, created_at DESC, id DESC)" in finding.message
    assert re.search(r'CREATE INDEX "?event_project_type_created"? ON', finding.repair)


@pytest.mark.parametrize("table", ["workflow_executions", "project_actions"])
def test_camel_case_columns_are_reported_as_renames(table):
    # Prisma P2022: the monitoring tables had camelCase columns where the code expected snake_case.
    snake = [c for c in live_table(table).columns if "_" in c]
    renames = [f'ALTER TABLE "{table}" RENAME COLUMN "{c}" TO "{camel(c)}"' for c in snake]
    with drifted(*renames):
        found = findings()
    # One finding per renamed column, nothing else: its indexes and keys follow the column once renamed back.
    assert {f.kind for f in found} == {"renamed_column"}
    assert {f.object for f in found} == {f"{table}.{c}" for c in snake}
    created = next(f for f in found if f.object == f"{table}.created_at")
    assert f'"{table}"."created_at"' in created.message and '"createdAt"' in created.message
    assert created.repair == f'ALTER TABLE "{table}" RENAME COLUMN "createdAt" TO "created_at";'


def test_table_dropped_while_migrations_say_applied_is_reported():
    with drifted(f"DROP TABLE events_bookmark{' CASCADE' if POSTGRESQL else ''}"):
        # Django's own check is blind to it: the migration records say everything is applied.
        call_command("migrate", check=True, skip_checks=True, verbosity=0)
        assert findings("unapplied_migration") == []
        [finding] = findings("missing_table")
    assert finding.object == "events_bookmark"
    assert "events.Bookmark" in finding.message


def test_message_event_fk_without_on_delete_cascade_is_reported():
    with drifted(*message_fk_without_cascade()):
        [finding] = findings("fk_on_delete")
    assert finding.object == "events_messageevent.message_id"
    assert "ON DELETE NO ACTION" in finding.message and "DB_CASCADE" in finding.message
    assert "needs ON DELETE CASCADE" in finding.message
    if POSTGRESQL:
        assert 'DROP CONSTRAINT "messageevent_message_fk_by_hand"' in finding.repair
        assert "ON DELETE CASCADE" in finding.repair
    else:
        assert "rebuilding the table" in finding.repair


def test_model_field_added_without_migration_is_reported():
    probe = models.CharField(max_length=20, null=True, blank=True)
    probe.contribute_to_class(ActivityEvent, "schema_probe")
    try:
        found = findings("missing_migration")
    finally:
        ActivityEvent._meta.local_fields.remove(probe)
        delattr(ActivityEvent, "schema_probe")
        ActivityEvent._meta._expire_cache()  # type: ignore[attr-defined]  # forget the probe field added above
    assert [f.object for f in found] == ["events.activityevent"]
    assert "Add field schema_probe to activityevent" in found[0].message
    assert found[0].repair.startswith("manage.py makemigrations events")
    # Compared with the applied migrations, the database itself has not drifted: one cause, one finding.
    assert findings("missing_column") == []
