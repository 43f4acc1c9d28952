"""The API answers bad input with a JSON 4xx naming what was wrong, never a 500 or an HTML page."""

import pytest

from events.models.activity import ActivityEvent
from monitoring.models import WorkflowExecution
from tests.api_fixtures import *  # noqa: F403

OVERFLOW_EVENT = b'{"event_type": "INDEXING_STARTED", "title": "t", "entity_type": "indexing", "metadata": {"n": 1e400}}'


@pytest.fixture
def api(api_as, write_token):
    return api_as(write_token)


def test_a_json_number_that_overflows_is_a_400(api, project):
    response = api.post("/events", raw=OVERFLOW_EVENT.decode())
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "1e400" in response.json()["detail"] and "too large" in response.json()["detail"]
    assert not ActivityEvent.objects.exists()


def test_an_overflowing_metric_value_is_a_400(api, project):
    body = '{"workflow_id": "nightly", "metric_name": "size", "metric_value": -1e400}'
    assert api.post("/monitoring/metrics", raw=body).status_code == 400


def test_nul_in_a_run_id_path_is_a_422(api, project):
    api.post("/monitoring/runs/start", {"run_id": "r1", "workflow_name": "nightly"})
    for method, path, body in [("post", "/monitoring/runs/r%001/finish", {"status": "SUCCESS"}),
                               ("get", "/monitoring/runs/r%001", None)]:
        response = api.request(method, path, body)
        assert response.status_code == 422, (path, response.content)
        assert response.json()["errors"][0]["field"] == "run_id"


@pytest.mark.parametrize("field", ["error_message", "error_stack"])
def test_a_lone_surrogate_in_a_run_error_is_a_422(api, project, field):
    api.post("/monitoring/runs/start", {"run_id": "r1", "workflow_name": "nightly"})
    raw = '{"status": "FAILED", "' + field + '": "bad \\ud800 text"}'
    response = api.post("/monitoring/runs/r1/finish", raw=raw)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == field and "surrogate" in error["message"]
    assert WorkflowExecution.objects.get(run_id="r1").status == "RUNNING"


@pytest.mark.parametrize("path", ["/conversations/not-a-number", "/messages/x/events", "/nowhere", "/events/1/x"])
def test_unknown_paths_and_non_integer_ids_are_a_json_404(api, project, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_a_non_integer_event_id_is_a_json_error_naming_it(api, project):
    response = api.patch("/events/abc", {"status": "COMPLETED"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "event_id"


def test_openapi_lists_the_error_answers_of_monitoring_operations(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    for path, operations in schema["paths"].items():
        if "/monitoring/" not in path:
            continue
        for method, operation in operations.items():
            assert {"400", "401", "422"} <= set(operation["responses"]), (method, path)


def test_openapi_documents_the_idempotency_key_pattern(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    headers = [p for ops in schema["paths"].values() for op in ops.values() for p in op.get("parameters", [])
               if p["in"] == "header" and p["name"] == "Idempotency-Key"]
    assert headers
    for header in headers:
        assert header["schema"].get("pattern") == "^[\\x21-\\x7e]{1,255}$" and header["schema"]["maxLength"] == 255


def test_a_malformed_idempotency_key_is_still_our_400(api, project):
    response = api.post("/actions", {"action_type": "deployment"}, headers={"Idempotency-Key": "has space"})
    assert response.status_code == 400
