"""One vocabulary across the API: IN_PROGRESS, COMPLETED, FAILED (CANCELLED for runs) in every response; the
other words (SUCCESS, RUNNING, the audit trail's lowercase ones) are accepted in requests as documented aliases,
and the OpenAPI document says so."""

import json

import pytest
from django.urls import reverse

from events.models import ActivityEvent, ProjectAction
from monitoring.models import WorkflowExecution
from notifications.models import Subscription
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


# --- filters and subscriptions read the same words -------------------------------------------------------------


@pytest.fixture
def three_events(api):
    for title, status in (("Zebra built", "COMPLETED"), ("Quokka broke", "FAILED"), ("Wombat running", "IN_PROGRESS")):
        assert api.post("/events", {"event_type": "INDEXING_STARTED", "title": title, "entity_type": "indexing",
                                    "status": status}).status_code == 201


@pytest.mark.parametrize(("word", "titles"), [("COMPLETED", ["Zebra built"]), ("success", ["Zebra built"]),
                                               ("Succeeded", ["Zebra built"]), ("running", ["Wombat running"]),
                                               ("failure", ["Quokka broke"])])
def test_the_feeds_status_filter_takes_the_aliases(api, three_events, word, titles):
    response = api.get("/feed", status=word)
    assert response.status_code == 200, response.content
    assert [e["title"] for e in response.json()["events"]] == titles


def test_the_feeds_status_filter_takes_several_words_mixed(api, three_events):
    response = api.get("/feed", status=["success", "FAILED"])
    assert sorted(e["title"] for e in response.json()["events"]) == ["Quokka broke", "Zebra built"]


def test_an_unknown_status_in_the_feed_is_a_422_naming_the_accepted_words(api, three_events):
    response = api.get("/feed", status="DONE")
    assert response.status_code == 422
    text = response.content.decode()
    assert all(word in text for word in ("IN_PROGRESS", "COMPLETED", "FAILED")) and "Zebra built" not in text


def test_the_activity_page_and_the_audit_log_filter_with_the_same_words(api, three_events, client_for, viewer,
                                                                         project):
    feed = client_for(viewer).get(reverse("events:feed", args=[project.slug]), {"status": "success"})
    assert feed.status_code == 200
    page = feed.content.decode()
    assert "Zebra built" in page and "Quokka broke" not in page and "Wombat running" not in page
    assert api.post("/actions", {"action_type": "deployment", "action_details": "Went out", "status": "success"}
                    ).status_code == 201
    assert api.post("/actions", {"action_type": "deployment", "action_details": "Rolled back", "status": "failed"}
                    ).status_code == 201
    audit = client_for(viewer).get(reverse("events:audit", args=[project.slug]), {"status": "COMPLETED"})
    assert audit.status_code == 200
    assert "Went out" in audit.content.decode() and "Rolled back" not in audit.content.decode()


def test_an_unknown_status_on_the_activity_page_is_a_400_that_says_what_to_use(client_for, viewer, project):
    response = client_for(viewer).get(reverse("events:feed", args=[project.slug]), {"status": "DONE"})
    assert response.status_code == 400
    assert "“DONE” is not a status word here: use IN_PROGRESS, COMPLETED or FAILED (also SUCCESS" in (
        response.content.decode())


def subscription(**fields):
    return {"name": "Failures", "channel": "webhook", "target_url": "http://127.0.0.1:9/hook", **fields}


@pytest.mark.parametrize(("word", "stored"), [("success", "COMPLETED"), ("COMPLETED", "COMPLETED"),
                                              ("Running", "IN_PROGRESS"), ("", "")])
def test_a_subscriptions_event_status_takes_the_aliases(api, word, stored):
    response = api.post("/notifications/subscriptions", subscription(event_status=word))
    assert response.status_code == 201, response.content
    assert response.json()["event_status"] == stored == Subscription.objects.get().event_status


@pytest.mark.parametrize(("word", "stored"), [("COMPLETED", "success"), ("success", "success"),
                                              ("failure", "failed"), ("IN_PROGRESS", "in_progress")])
def test_a_subscriptions_action_status_takes_the_apis_words(api, word, stored):
    created = api.post("/notifications/subscriptions", subscription(match_actions=True, action_status=word))
    assert created.status_code == 201, created.content
    assert created.json()["action_status"] == stored == Subscription.objects.get().action_status
    changed = api.patch(f"/notifications/subscriptions/{created.json()['id']}", {"event_status": "succeeded"})
    assert changed.status_code == 200 and changed.json()["event_status"] == "COMPLETED"


def test_an_unknown_subscription_status_is_a_422_naming_the_accepted_words(api):
    response = api.post("/notifications/subscriptions", subscription(event_status="DONE"))
    assert response.status_code == 422
    assert all(word in response.content.decode() for word in ("IN_PROGRESS", "COMPLETED", "FAILED"))
    assert not Subscription.objects.exists()


def test_the_openapi_document_names_the_aliases_of_the_filters_and_subscriptions(client, db):
    document = client.get("/api/v1/openapi.json").json()
    [status] = [p for p in document["paths"]["/api/v1/feed"]["get"]["parameters"] if p["name"] == "status"]
    described = json.dumps(status)
    assert "SUCCESS (or SUCCEEDED) for COMPLETED" in described and '"SUCCESS": "COMPLETED"' in described
    subscription_in = document["components"]["schemas"]["SubscriptionIn"]["properties"]
    assert subscription_in["event_status"]["x-aliases"]["SUCCESS"] == "COMPLETED"
    assert "any letter case" in subscription_in["event_status"]["description"]
    assert subscription_in["action_status"]["x-aliases"]["RUNNING"] == "IN_PROGRESS"
