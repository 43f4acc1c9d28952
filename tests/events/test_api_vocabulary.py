"""One vocabulary across the API: IN_PROGRESS, COMPLETED, FAILED (CANCELLED for runs) in every response; the
other words (SUCCESS, RUNNING, the audit trail's lowercase ones) are accepted in requests as documented aliases,
and the OpenAPI document says so."""

import pytest

from events.models import ActivityEvent, ProjectAction
from monitoring.models import WorkflowExecution
from tests.api_fixtures import *  # noqa: F403


@pytest.fixture
def api(api_as, write_token):
    return api_as(write_token)


def start(api, run_id):
    response = api.post("/monitoring/runs/start", {"run_id": run_id, "workflow_name": "nightly"})
    assert response.status_code == 201
    return response


@pytest.mark.parametrize("word", ["COMPLETED", "completed", "SUCCESS", "success", "Succeeded"])
def test_a_run_finishes_completed_or_with_an_alias_of_it(api, project, word):
    """runs/{id}/finish with COMPLETED was a 422 (runs only knew SUCCESS)."""
    assert start(api, "r1").json()["status"] == "IN_PROGRESS"
    response = api.post("/monitoring/runs/r1/finish", {"status": word})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "COMPLETED"
    assert WorkflowExecution.objects.get(project=project, run_id="r1").status == "SUCCESS"  # the table's own word
    assert api.get("/monitoring/runs/r1").json()["status"] == "COMPLETED"


@pytest.mark.parametrize(("word", "answer"), [("FAILED", "FAILED"), ("failure", "FAILED"), ("canceled", "CANCELLED")])
def test_other_run_outcomes_and_their_aliases(api, word, answer):
    start(api, "r2")
    assert api.post("/monitoring/runs/r2/finish", {"status": word}).json()["status"] == answer


def test_an_unknown_word_is_a_422_that_names_the_accepted_ones(api):
    start(api, "r3")
    response = api.post("/monitoring/runs/r3/finish", {"status": "DONE"})
    assert response.status_code == 422
    text = response.content.decode()
    assert "COMPLETED" in text and "FAILED" in text
    assert WorkflowExecution.objects.get(run_id="r3").status == "RUNNING"


@pytest.mark.parametrize(("word", "stored"), [("SUCCESS", "COMPLETED"), ("completed", "COMPLETED"),
                                              ("running", "IN_PROGRESS"), ("FAILED", "FAILED")])
def test_events_accept_the_same_aliases(api, word, stored):
    body = {"event_type": "INDEXING_STARTED", "title": "Index", "entity_type": "indexing", "status": word}
    response = api.post("/events", body)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == stored == ActivityEvent.objects.get().status


def test_finishing_an_event_with_success_completes_it(api):
    running = api.post("/events", {"event_type": "INDEXING_STARTED", "title": "Index", "entity_type": "indexing"})
    response = api.patch(f"/events/{running.json()['id']}", {"status": "success"})
    assert response.status_code == 200 and response.json()["status"] == "COMPLETED"


@pytest.mark.parametrize(("word", "stored"), [("COMPLETED", "success"), ("success", "success"),
                                              ("IN_PROGRESS", "in_progress"), ("Failed", "failed")])
def test_audit_actions_take_the_apis_words_and_answer_in_them(api, word, stored):
    response = api.post("/actions", {"action_type": "deployment", "status": word})
    assert response.status_code == 201, response.content
    assert ProjectAction.objects.get().status == stored  # the audit trail keeps its own stored word
    assert response.json()["status"] == {"success": "COMPLETED", "failed": "FAILED", "in_progress": "IN_PROGRESS"}[stored]


def test_the_openapi_document_names_the_words_and_their_aliases(client, db):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    finish = schemas["RunFinishIn"]["properties"]["status"]
    assert finish["enum"] == ["COMPLETED", "FAILED", "CANCELLED"]
    assert finish["x-aliases"]["SUCCESS"] == "COMPLETED"
    assert "SUCCESS (or SUCCEEDED) for COMPLETED" in finish["description"]
    event_status = schemas["EventIn"]["properties"]["status"]
    assert event_status["x-aliases"]["RUNNING"] == "IN_PROGRESS" and "any letter case" in event_status["description"]
    assert "IN_PROGRESS" in schemas["RunOut"]["properties"]["status"]["enum"]
    assert "RUNNING" not in schemas["RunOut"]["properties"]["status"]["enum"]
