"""The ingestion API: start/finish runs, metrics; validated, idempotent, never a 500."""

import pytest
from django.utils import timezone

from monitoring.models import RunAlert, WorkflowExecution, WorkflowMetrics, WorkflowSchedule
from projects.models import ApiKey, Project

START = "/api/v1/monitoring/runs/start"
METRICS = "/api/v1/monitoring/metrics"


def finish_url(run_id):
    return f"/api/v1/monitoring/runs/{run_id}/finish"


@pytest.fixture
def api(client, project):
    _, token = ApiKey.objects.create_key(project=project, name="ci", scope="write")

    def call(method, url, body=None, token_=token):
        return getattr(client, method)(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_}")

    return call


def test_start_then_finish_computes_duration_and_stores_the_outcome(api, project):
    started = api("post", START, {"run_id": "r1", "workflow_name": "nightly", "started_at": "2026-01-10T02:00:00Z",
                                  "triggered_by": "schedule"})
    assert started.status_code == 201
    assert started.json()["status"] == "IN_PROGRESS"  # the API's one vocabulary (lib/vocabulary.py)
    finished = api("post", finish_url("r1"), {
        "status": "FAILED", "completed_at": "2026-01-10T02:01:30.500Z", "tests_passed": 10, "tests_failed": 2,
        "tests_total": 12, "error_message": "2 tests failed", "error_stack": "Traceback…",
    })
    assert finished.status_code == 200, finished.content
    run = WorkflowExecution.objects.get(project=project, run_id="r1")
    assert (run.status, run.duration_ms, run.tests_failed, run.triggered_by) == ("FAILED", 90500, 2, "schedule")
    assert run.error_stack == "Traceback…"
    assert run.alert_state == RunAlert.PENDING  # the daemon decides whether to alert


def test_camel_case_fields_of_older_clients_are_accepted(api):
    response = api("post", START, {"runId": "c1", "workflowName": "wf"})
    assert response.status_code == 201
    response = api("post", finish_url("c1"), {"status": "success", "testsPassed": 3, "testsTotal": 3})
    assert response.json()["tests_passed"] == 3


def test_repeated_start_returns_the_stored_run_instead_of_a_duplicate(api):
    body = {"run_id": "dup", "workflow_name": "wf", "started_at": "2026-01-10T02:00:00Z"}
    assert api("post", START, body).status_code == 201
    assert api("post", START, body).status_code == 200
    assert WorkflowExecution.objects.filter(run_id="dup").count() == 1


def test_start_reusing_a_run_id_for_another_workflow_is_a_conflict(api):
    api("post", START, {"run_id": "x", "workflow_name": "one"})
    response = api("post", START, {"run_id": "x", "workflow_name": "two"})
    assert response.status_code == 409
    assert "one" in response.json()["detail"]


def test_repeated_finish_is_idempotent_and_a_different_outcome_conflicts(api, project):
    WorkflowSchedule.objects.create(project=project, workflow_name="wf", cron_expression="0 * * * *")
    api("post", START, {"run_id": "f", "workflow_name": "wf"})
    assert api("post", finish_url("f"), {"status": "SUCCESS"}).status_code == 200
    assert api("post", finish_url("f"), {"status": "SUCCESS"}).status_code == 200
    conflict = api("post", finish_url("f"), {"status": "FAILED"})
    assert conflict.status_code == 409
    assert "already finished as SUCCESS" in conflict.json()["detail"]
    schedule = WorkflowSchedule.objects.get()
    assert (schedule.run_count, schedule.success_count, schedule.failure_count) == (1, 1, 0)


def test_finish_of_an_unknown_run_is_404(api):
    response = api("post", finish_url("nope"), {"status": "SUCCESS"})
    assert response.status_code == 404
    assert "start it first" in response.json()["detail"]


def test_finish_before_start_time_or_impossible_test_counts_are_422(api):
    api("post", START, {"run_id": "t", "workflow_name": "wf", "started_at": "2026-01-10T02:00:00Z"})
    early = api("post", finish_url("t"), {"status": "SUCCESS", "completed_at": "2026-01-10T01:00:00Z"})
    assert early.status_code == 422 and "before the run started" in early.json()["detail"]
    counts = api("post", finish_url("t"), {"status": "SUCCESS", "completed_at": "2026-01-10T03:00:00Z",
                                            "tests_passed": 5, "tests_failed": 5, "tests_total": 6})
    assert counts.status_code == 422 and "exceeds tests_total" in counts.json()["detail"]
    assert WorkflowExecution.objects.get(run_id="t").status == "RUNNING"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"run_id": "", "workflow_name": "wf"},
        {"run_id": "has space", "workflow_name": "wf"},
        {"run_id": "a" * 129, "workflow_name": "wf"},
        {"run_id": "ok", "workflow_name": "w" * 201},
        {"run_id": "ok", "workflow_name": "nul\x00"},
        {"run_id": "ok", "workflow_name": "wf", "started_at": "not a date"},
        {"run_id": "ok", "workflow_name": "wf", "started_at": "0001-01-01T00:00:00+14:00"},
        {"run_id": "ok", "workflow_name": "wf", "started_at": "9999-12-31T23:59:59-12:00"},
        {"run_id": 5, "workflow_name": ["wf"]},
    ],
)
def test_bad_start_input_is_a_422_never_a_500(api, body):
    response = api("post", START, body)
    assert response.status_code == 422
    assert not WorkflowExecution.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"status": "DONE"},
        {"status": "RUNNING"},
        {"status": "SUCCESS", "tests_total": -1},
        {"status": "SUCCESS", "tests_total": 10**12},
        {"status": "FAILED", "error_message": "x\x00y"},
    ],
)
def test_bad_finish_input_is_a_422(api, body):
    api("post", START, {"run_id": "b", "workflow_name": "wf"})
    assert api("post", finish_url("b"), body).status_code == 422


def test_malformed_json_is_a_400_that_says_so(client, project):
    _, token = ApiKey.objects.create_key(project=project, name="ci", scope="write")
    response = client.post(START, "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_read_only_key_cannot_write_and_missing_key_is_401(api, client, project):
    _, read_token = ApiKey.objects.create_key(project=project, name="ro", scope="read")
    assert api("post", START, {"run_id": "r", "workflow_name": "wf"}, token_=read_token).status_code == 403
    assert client.post(START, {}, content_type="application/json").status_code == 401
    assert not WorkflowExecution.objects.exists()


def test_runs_of_another_project_are_invisible(api, project):
    other = Project.objects.create(name="Other", slug="other")
    _, other_token = ApiKey.objects.create_key(project=other, name="ci", scope="write")
    api("post", START, {"run_id": "mine", "workflow_name": "wf"})
    assert api("post", finish_url("mine"), {"status": "SUCCESS"}, token_=other_token).status_code == 404
    assert api("get", "/api/v1/monitoring/runs/mine", token_=other_token).status_code == 404
    # The same run id in another project is a different run.
    assert api("post", START, {"run_id": "mine", "workflow_name": "wf"}, token_=other_token).status_code == 201


def test_metric_is_stored_linked_to_its_run_and_a_retry_is_not_duplicated(api, project):
    api("post", START, {"run_id": "m", "workflow_name": "build"})
    body = {"workflow_id": "build", "metric_name": "build_time", "metric_value": 130.5, "metric_unit": "s",
            "threshold_value": 120, "recorded_at": "2026-01-10T02:00:00Z", "run_id": "m"}
    first = api("post", METRICS, body)
    assert first.status_code == 201
    assert first.json()["is_within_threshold"] is False
    assert api("post", METRICS, body).status_code == 200
    metric = WorkflowMetrics.objects.get()
    assert metric.execution is not None and metric.execution.run_id == "m" and metric.project == project


@pytest.mark.parametrize(
    "body",
    [
        {"workflow_id": "b", "metric_name": "x", "metric_value": "NaN"},
        {"workflow_id": "b", "metric_name": "x", "metric_value": "Infinity"},
        {"workflow_id": "b", "metric_name": "", "metric_value": 1},
        {"workflow_id": "b", "metric_name": "x"},
    ],
)
def test_bad_metrics_are_422(api, body):
    assert api("post", METRICS, body).status_code == 422
    assert not WorkflowMetrics.objects.exists()


def test_metric_for_an_unknown_run_is_404(api):
    response = api("post", METRICS, {"workflow_id": "b", "metric_name": "x", "metric_value": 1, "run_id": "ghost"})
    assert response.status_code == 404


def test_starting_a_scheduled_workflow_counts_the_run_and_moves_next_run(api, project):
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="hourly", cron_expression="0 * * * *")
    api("post", START, {"run_id": "h1", "workflow_name": "hourly"})
    schedule.refresh_from_db()
    assert schedule.run_count == 1
    assert schedule.last_run_at is not None
    assert schedule.next_run_at is not None and schedule.next_run_at > timezone.now()
