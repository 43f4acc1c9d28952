"""The repair printed with each finding really repairs it: run it on the drifted database, and the drift is gone."""

import pytest
from django.db import connection

import schemacheck as schema
from tests.schema_drift import (
    assert_clean,
    camel,
    drifted,
    message_fk_without_cascade,
    remove_sql_clause,
    sqlite_rebuild,
)

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"


def _null_title():
    if POSTGRESQL:
        return ["ALTER TABLE events_activityevent ALTER COLUMN title DROP NOT NULL"]
    return sqlite_rebuild(
        "events_activityevent", lambda sql: sql.replace('"title" varchar(255) NOT NULL', '"title" varchar(255) NULL')
    )


def _drop_check():
    if POSTGRESQL:
        return ["ALTER TABLE events_activityevent DROP CONSTRAINT event_status_valid"]
    return sqlite_rebuild(
        "events_activityevent", lambda sql: remove_sql_clause(sql, ', CONSTRAINT "event_status_valid" CHECK (')
    )


DRIFTS = {
    "dropped-table": lambda: [f"DROP TABLE events_bookmark{' CASCADE' if POSTGRESQL else ''}"],
    "dropped-composite-index": lambda: ["DROP INDEX event_project_type_created"],
    "camel-case-column": lambda: [f'ALTER TABLE project_actions RENAME COLUMN "created_at" TO "{camel("created_at")}"'],
    "fk-without-cascade": message_fk_without_cascade,
    "nullable-column": _null_title,
    "dropped-check": _drop_check,
    "dropped-unique-constraint": lambda: _drop_unique(),
}


def _drop_unique():
    if POSTGRESQL:
        return ["ALTER TABLE projects_membership DROP CONSTRAINT membership_one_per_user_project"]
    return sqlite_rebuild(
        "projects_membership",
        lambda sql: remove_sql_clause(sql, ', CONSTRAINT "membership_one_per_user_project" UNIQUE ('),
    )


def run_repair(sql):
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    with connection.cursor() as cursor:
        for statement in "\n".join(lines).split(";\n"):
            if statement.strip().rstrip(";"):
                cursor.execute(statement.strip().rstrip(";"))


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_repair_sql_removes_the_drift(drift):
    assert_clean()
    with drifted(*DRIFTS[drift]()):
        report = schema.check()
        assert report.findings, "the drift was not detected"
        for finding in report.findings:
            run_repair(finding.repair)
        assert_clean()
    assert_clean()
