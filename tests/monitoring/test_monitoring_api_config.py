"""The API for schedules and health checks (list, create, update, pause with a read-write key) and
Idempotency-Key on every monitoring write."""

import pytest

from monitoring.models import HealthCheck, WorkflowExecution, WorkflowMetrics, WorkflowSchedule
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403

SCHEDULES = "/monitoring/schedules"
CHECKS = "/monitoring/health-checks"


@pytest.fixture
def api(api_as, write_token):
    return api_as(write_token)


def test_schedule_is_created_listed_read_and_described(api):
    created = api.post(SCHEDULES, {"workflow_name": "nightly", "cron_expression": "0 6 * * 1-5",
                                   "timezone": "Europe/Berlin", "environment": "staging"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["description"], body["environment"], body["paused"]) == ("At 06:00, Monday through Friday", "staging", False)
    assert body["next_run_at"] is not None
    assert [s["schedule_id"] for s in api.get(SCHEDULES).json()] == [body["schedule_id"]]
    assert api.get(SCHEDULES, environment="production").json() == []
    assert api.get(f"{SCHEDULES}/{body['schedule_id']}").json()["cron_expression"] == "0 6 * * 1-5"


def test_schedule_update_recomputes_next_run_and_pause_resume(api):
    sid = api.post(SCHEDULES, {"workflow_name": "nightly", "cron_expression": "0 2 * * *"}).json()["schedule_id"]
    before = WorkflowSchedule.objects.get().next_run_at
    updated = api.patch(f"{SCHEDULES}/{sid}", {"cron_expression": "30 3 * * *", "grace_period_seconds": 60})
    assert updated.status_code == 200 and updated.json()["grace_period_seconds"] == 60
    after = WorkflowSchedule.objects.get().next_run_at
    assert after is not None
    assert (after.hour, after.minute) == (3, 30) and after != before
    paused = api.patch(f"{SCHEDULES}/{sid}", {"paused": True}).json()
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    resumed = api.patch(f"{SCHEDULES}/{sid}", {"paused": False}).json()
    assert resumed["paused"] is False and resumed["next_run_at"] is not None


def test_bad_schedule_input_is_422_naming_the_field(api):
    bad = api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 25 * * *"})
    assert bad.status_code == 422 and "cron_expression" in bad.json()["detail"]
    zone = api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 1 * * *", "timezone": "Mars/Base"})
    assert zone.status_code == 422 and "Unknown time zone" in zone.json()["detail"]
    assert not WorkflowSchedule.objects.exists()


def test_second_schedule_for_the_same_workflow_and_environment_is_refused(api):
    api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 1 * * *"})
    assert api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 2 * * *"}).status_code in (409, 422)
    assert api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 2 * * *",
                                "environment": "staging"}).status_code == 201


def test_read_only_key_cannot_write_and_other_projects_schedules_are_404(api, api_as, read_token, other_project):
    sid = api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 1 * * *"}).json()["schedule_id"]
    reader = api_as(read_token)
    assert reader.get(SCHEDULES).status_code == 200
    assert reader.post(SCHEDULES, {"workflow_name": "x", "cron_expression": "0 1 * * *"}).status_code == 403
    assert reader.patch(f"{SCHEDULES}/{sid}", {"paused": True}).status_code == 403
    assert reader.post(CHECKS, {"check_name": "A", "url": "https://a.example/"}).status_code == 403
    _, other = ApiKey.objects.create_key(project=other_project, name="o", scope="write")
    stranger = api_as(other)
    assert stranger.get(f"{SCHEDULES}/{sid}").status_code == 404
    assert stranger.patch(f"{SCHEDULES}/{sid}", {"paused": True}).status_code == 404
    assert stranger.get(SCHEDULES).json() == []


def test_health_check_is_created_paused_and_updated(api):
    created = api.post(CHECKS, {"check_name": "Public API", "url": "https://api.example/health", "method": "HEAD",
                                "environment": "staging"})
    assert created.status_code == 201, created.content
    assert (created.json()["check_id"], created.json()["last_status"]) == ("public-api", None)
    assert api.patch(f"{CHECKS}/public-api", {"paused": True}).json()["paused"] is True
    assert api.patch(f"{CHECKS}/public-api", {"interval_seconds": 120, "paused": False}).json()["interval_seconds"] == 120
    check = HealthCheck.objects.get()
    assert (check.paused, check.interval_seconds, check.environment) == (False, 120, "staging")
    assert [c["check_id"] for c in api.get(CHECKS, environment="staging").json()] == ["public-api"]


def test_health_check_refuses_ftp_and_bad_numbers(api):
    ftp = api.post(CHECKS, {"check_name": "Files", "url": "ftp://files.example/"})
    assert ftp.status_code == 422 and "http:// or https://" in ftp.json()["detail"]
    assert api.post(CHECKS, {"check_name": "A", "url": "https://a.example/", "timeout_ms": 5}).status_code == 422
    assert api.patch(f"{CHECKS}/nope", {"paused": True}).status_code == 404
    assert api.get(CHECKS, environment="Not Valid!").status_code == 400
    assert not HealthCheck.objects.exists()


# --- Idempotency-Key on every monitoring write -------------------------------------------------------------


def test_retried_metric_without_recorded_at_is_stored_once_with_an_idempotency_key(api):
    body = {"workflow_id": "nightly", "metric_name": "backup_size", "metric_value": 12.5}
    first = api.post("/monitoring/metrics", body, headers={"Idempotency-Key": "m-1"})
    again = api.post("/monitoring/metrics", body, headers={"Idempotency-Key": "m-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert WorkflowMetrics.objects.count() == 1
    other = api.post("/monitoring/metrics", {**body, "metric_value": 13}, headers={"Idempotency-Key": "m-1"})
    assert other.status_code == 422 and "different request" in other.json()["detail"]


@pytest.mark.parametrize(("path", "body"), [
    ("/monitoring/runs/start", {"run_id": "r1", "workflow_name": "w"}),
    (SCHEDULES, {"workflow_name": "w", "cron_expression": "0 1 * * *"}),
    (CHECKS, {"check_name": "A", "url": "https://a.example/"}),
])
def test_every_monitoring_create_replays_on_a_retried_idempotency_key(api, path, body):
    first = api.post(path, body, headers={"Idempotency-Key": "k-1"})
    again = api.post(path, body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert WorkflowExecution.objects.count() + WorkflowSchedule.objects.count() + HealthCheck.objects.count() == 1


def test_finish_and_updates_honour_the_idempotency_key(api):
    api.post("/monitoring/runs/start", {"run_id": "r1", "workflow_name": "w"})
    finish = {"status": "SUCCESS"}
    first = api.post("/monitoring/runs/r1/finish", finish, headers={"Idempotency-Key": "f-1"})
    assert api.post("/monitoring/runs/r1/finish", finish, headers={"Idempotency-Key": "f-1"})["Idempotent-Replayed"] == "true"
    assert first.status_code == 200
    sid = api.post(SCHEDULES, {"workflow_name": "w", "cron_expression": "0 1 * * *"}).json()["schedule_id"]
    api.patch(f"{SCHEDULES}/{sid}", {"paused": True}, headers={"Idempotency-Key": "p-1"})
    api.patch(f"{SCHEDULES}/{sid}", {"paused": False})
    replay = api.patch(f"{SCHEDULES}/{sid}", {"paused": True}, headers={"Idempotency-Key": "p-1"})
    assert replay["Idempotent-Replayed"] == "true"
    assert WorkflowSchedule.objects.get().status == "ACTIVE"  # the replay changed nothing


def test_malformed_idempotency_key_is_400(api):
    response = api.post("/monitoring/metrics", {"workflow_id": "w", "metric_name": "m", "metric_value": 1},
                        headers={"Idempotency-Key": "has spaces"})
    assert response.status_code == 400


def test_same_check_id_in_two_projects_works_and_a_duplicate_is_409_about_the_callers_own(api, api_as, project,
                                                                                          other_project):
    _, other = ApiKey.objects.create_key(project=other_project, name="o", scope="write")
    stranger = api_as(other)
    body = {"check_name": "Public API", "url": "https://api.example/health"}
    assert stranger.post(CHECKS, body).status_code == 201  # another project took "public-api" first: nothing leaks
    assert HealthCheck.objects.create(check_id="public-api", check_name="Manager's", url="https://m.example/")
    mine = api.post(CHECKS, body)
    assert mine.status_code == 201 and mine.json()["check_id"] == "public-api"
    again = api.post(CHECKS, {**body, "url": "https://other.example/"})
    assert again.status_code == 409
    assert again.json()["detail"] == "This project already has a health check with id 'public-api'."
    assert api.patch(f"{CHECKS}/public-api", {"interval_seconds": 300}).json()["interval_seconds"] == 300
    rows = {(c.project_id, c.check_id): c.interval_seconds for c in HealthCheck.objects.all()}
    assert rows == {(other_project.pk, "public-api"): 60, (None, "public-api"): 60, (project.pk, "public-api"): 300}
