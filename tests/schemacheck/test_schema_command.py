"""manage.py check_schema and the `database` system check: readable, scriptable, exit status 1 on drift."""

import json
import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.schema_drift import assert_clean, drifted

pytestmark = pytest.mark.django_db(transaction=True)

DROP_INDEX = "DROP INDEX event_project_type_created"


@pytest.fixture(autouse=True)
def database_left_as_found():
    assert_clean()
    yield
    assert_clean()


def run(*args):
    out = StringIO()
    try:
        call_command("check_schema", *args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


def test_clean_database_exits_0_with_a_one_line_summary():
    code, out = run()
    assert code == 0
    assert out.startswith("Schema OK:") and "match the models and migrations" in out


def test_drift_exits_1_and_names_the_object_and_its_repair():
    with drifted(DROP_INDEX):
        code, out = run()
    assert code == 1
    assert "Schema drift: 1 finding(s)" in out
    assert "[missing_index] events_activityevent.event_project_type_created" in out
    assert re.search(r'repair:\n     CREATE INDEX "?event_project_type_created"? ON', out)


def test_no_repair_leaves_the_sql_out():
    with drifted(DROP_INDEX):
        code, out = run("--no-repair")
    assert code == 1 and "CREATE INDEX" not in out


def test_json_format_is_machine_readable():
    with drifted(DROP_INDEX):
        code, out = run("--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["migrations_applied"] is True
    [finding] = report["findings"]
    assert finding["kind"] == "missing_index"
    assert finding["object"] == "events_activityevent.event_project_type_created"
    assert finding["model"] == "events.ActivityEvent"
    assert re.match(r'CREATE INDEX "?event_project_type_created"? ON', finding["repair"])
    code, out = run("--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_system_check_with_database_tag_reports_drift_as_an_error():
    call_command("check", databases=["default"])  # clean: no exception
    with drifted(DROP_INDEX), pytest.raises(SystemCheckError) as raised:
        call_command("check", databases=["default"])
    assert "schemacheck.S020" in str(raised.value)
    assert "event_project_type_created" in str(raised.value)


def test_system_check_leaves_unapplied_migrations_to_migrate():
    # `migrate` runs database checks before migrating: pending migrations must not block it.
    with drifted("DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'"):
        call_command("check", databases=["default"])
        code, out = run()
    assert code == 1 and "[migration_records]" in out and "sessions.0001_initial" in out


def test_unreachable_database_exits_1_and_says_so():
    # A real server that is not there (nothing listens on port 1), in a separate process with its own settings.
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check_schema", "--format", "json"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["reachable"] is False and report["migrations_applied"] is False
    [finding] = report["findings"]
    assert finding["kind"] == "database_unreachable" and "could not be read" in finding["message"]


EXTRA_UNIQUE = "CREATE UNIQUE INDEX execution_workflow_once ON workflow_executions (project_id, workflow_name)"


def test_only_warnings_exit_3_and_fail_on_error_lets_them_pass_while_listing_them():
    # An extra unique index: the database is stricter than the model (maybe a deliberate rule), not broken.
    with drifted(EXTRA_UNIQUE):
        code, out = run()
        assert code == 3
        assert "0 error(s), 1 warning(s)" in out and "WARNING [extra_unique]" in out
        code, out = run("--fail-on", "error")
        assert code == 0 and "WARNING [extra_unique] workflow_executions.execution_workflow_once" in out
        code, out = run("--format", "json")
        report = json.loads(out)
        assert code == 3 and (report["errors"], report["warnings"]) == (0, 1)
        assert report["findings"][0]["severity"] == "warning"


def test_an_error_beside_warnings_exits_1_whatever_fail_on_says():
    with drifted(EXTRA_UNIQUE, DROP_INDEX):
        assert run()[0] == 1
        code, out = run("--fail-on", "error")
        assert code == 1 and "1 error(s), 1 warning(s)" in out and "ERROR [missing_index]" in out


def test_system_check_reports_a_warning_finding_as_a_warning_that_does_not_block_migrate():
    from django.core import checks

    from schemacheck.checks import schema_matches_models

    with drifted(EXTRA_UNIQUE):
        call_command("check", databases=["default"], stdout=StringIO(), stderr=StringIO())  # no SystemCheckError
        [message] = schema_matches_models(databases=["default"])
    assert message.level == checks.WARNING and message.id == "schemacheck.S023"
