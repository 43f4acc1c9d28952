"""POST/PATCH /api/v1/events and POST /api/v1/actions: storing, atomic batches, idempotency, every error path."""

import json
from typing import Any

import pytest

from events.models import ActivityEvent, ProjectAction
from projects.models import ApiKey, IdempotencyRecord
from tests.api_fixtures import *  # noqa: F403

EVENT = {"event_type": "INDEXING_STARTED", "title": "Indexing main", "entity_type": "indexing"}


def event(**overrides):
    return {**EVENT, **overrides}


# --- storing -------------------------------------------------------------------------------------------------


def test_single_event_is_stored_in_the_keys_project(api_as, write_token, project):
    response = api_as(write_token).post("/events", event(entity_id="repo-1", metadata={"files": 12}, duration=5))
    assert response.status_code == 201
    body = response.json()
    stored = ActivityEvent.objects.get(pk=body["id"])
    assert stored.project == project
    assert (stored.title, stored.entity_id, stored.metadata, stored.duration) == ("Indexing main", "repo-1", {"files": 12}, 5)
    assert body["status"] == "IN_PROGRESS" and body["category"] == "indexing"


def test_a_single_event_without_keys_is_one_insert_outside_a_transaction(api_as, write_token):
    """The write path's one shortcut (idempotent_write's autocommit_when): nothing to claim or look up, so no
    transaction; an external_id or an Idempotency-Key brings the transaction back."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(body, **kw):
        with CaptureQueriesContext(connection) as captured:
            assert api_as(write_token).post("/events", body, **kw).status_code == 201
        return [q["sql"] for q in captured.captured_queries]

    plain = statements(event())
    assert not [sql for sql in plain if "SAVEPOINT" in sql]
    assert len([sql for sql in plain if sql.startswith("INSERT")]) == 1
    assert [sql for sql in statements(event(external_id="x-1")) if "SAVEPOINT" in sql]
    assert [sql for sql in statements(event(), headers={"Idempotency-Key": "k-1"}) if "SAVEPOINT" in sql]


def test_batch_stores_every_event_and_reports_ids_in_order(api_as, write_token):
    items = [event(title=f"step {i}", status="COMPLETED") for i in range(50)]
    response = api_as(write_token).post("/events", {"events": items})
    assert response.status_code == 201
    body = response.json()
    assert body["created"] == 50 and body["existing"] == 0
    ids = [item["id"] for item in body["events"]]
    assert [ActivityEvent.objects.get(pk=i).title for i in ids] == [f"step {i}" for i in range(50)]


def test_batch_of_exactly_1000_is_accepted(api_as, write_token):
    response = api_as(write_token).post("/events", {"events": [event(title=f"e{i}") for i in range(1000)]})
    assert response.status_code == 201
    assert ActivityEvent.objects.count() == 1000


def test_batch_over_1000_is_413_and_stores_nothing(api_as, write_token):
    response = api_as(write_token).post("/events", {"events": [event()] * 1001})
    assert response.status_code == 413
    assert "at most 1000" in response.json()["detail"]
    assert ActivityEvent.objects.count() == 0


def test_body_over_the_upload_limit_is_413(api_as, write_token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_as(write_token).post("/events", {"events": [event(description="x" * 500)] * 50})
    assert response.status_code == 413
    assert "Request body too large" in response.json()["detail"]


def test_one_bad_item_rejects_the_whole_batch_with_per_item_errors(api_as, write_token):
    items = [event(), event(title=""), event(), event(event_type="NOT_A_TYPE", duration=-1)]
    response = api_as(write_token).post("/events", {"events": items})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {
        (1, "events[1].title"),
        (3, "events[3].event_type"),
        (3, "events[3].duration"),
    }
    assert all(e["message"] for e in errors)
    assert ActivityEvent.objects.count() == 0


def test_unknown_fields_are_refused_not_dropped(api_as, write_token):
    response = api_as(write_token).post("/events", event(staus="FAILED"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "staus"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"title": "nul\u0000byte"}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"metadata": {"k": "\ud800"}}, "metadata"),
        ({"metadata": {"\u0000": 1}}, "metadata"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"metadata": {"big": "x" * 70_000}}, "metadata"),
        ({"duration": 2**31}, "duration"),
        ({"status": "DONE"}, "status"),
        ({"entity_type": ""}, "entity_type"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_values_a_database_would_reject_are_422_naming_the_field(api_as, write_token, overrides, field):
    response = api_as(write_token).post("/events", event(**overrides))
    assert response.status_code == 422, response.content
    assert field in {e["field"] for e in response.json()["errors"]}


def test_deeply_nested_metadata_is_422(api_as, write_token):
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    response = api_as(write_token).post("/events", event(metadata=deep))
    assert response.status_code == 422


@pytest.mark.parametrize("raw", ["{not json", '{"title": NaN}', "[1, 2", "\xff\xfe", '{"a": Infinity}'])
def test_unparseable_body_is_400_saying_why(api_as, write_token, raw):
    response = api_as(write_token).post("/events", raw=raw)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Cannot parse request body")


@pytest.mark.parametrize("body", [[], [1, 2], "text", 42, None, {"events": []}, {"events": "many"}])
def test_wrong_shape_is_422(api_as, write_token, body):
    response = api_as(write_token).post("/events", raw=json.dumps(body))
    assert response.status_code == 422


def test_empty_body_is_422(api_as, write_token):
    response = api_as(write_token).post("/events", raw="")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body"


# --- authentication, scope, rate limit ------------------------------------------------------------------------


def test_missing_key_is_401_with_www_authenticate(api_as, db):
    response = api_as(None).post("/events", event())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "API key" in response.json()["detail"]


@pytest.mark.parametrize(
    "token", ["nope", "ah_00000000_" + "x" * 32, "Basic abc", "ah__", "ah_zzzzzzzz_" + "y" * 32]
)
def test_unknown_or_malformed_key_is_401(api_as, write_token, token):
    assert api_as(token).post("/events", event()).status_code == 401


def test_wrong_secret_for_a_real_prefix_is_401(api_as, write_token):
    forged = write_token[:12] + "A" * (len(write_token) - 12)
    assert api_as(forged).get("/feed").status_code == 401


def test_revoked_key_is_401(api_as, write_token):
    from django.utils import timezone

    ApiKey.objects.update(revoked_at=timezone.now())
    assert api_as(write_token).post("/events", event()).status_code == 401


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/events", EVENT),
        ("post", "/events", {"events": [EVENT]}),
        ("patch", "/events/1", {"status": "COMPLETED"}),
        ("post", "/actions", {"action_type": "deployment"}),
    ],
)
def test_read_only_key_writing_is_403_and_stores_nothing(api_as, read_token, method, path, body):
    response = getattr(api_as(read_token), method)(path, body)
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert ActivityEvent.objects.count() == 0 and ProjectAction.objects.count() == 0


def test_read_only_key_can_read(api_as, read_token):
    assert api_as(read_token).get("/feed").status_code == 200


def test_key_use_is_recorded(api_as, write_token):
    assert ApiKey.objects.get().last_used_at is None
    api_as(write_token).get("/feed")
    assert ApiKey.objects.get().last_used_at is not None


def test_past_the_rate_limit_is_429_with_retry_after(api_as, write_token, settings):
    settings.API_RATE_LIMIT = "3/min"
    client = api_as(write_token)
    assert [client.get("/feed").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/feed")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Rate limit" in response.json()["detail"]


def test_rate_limit_is_per_key(api_as, write_token, read_token, settings):
    settings.API_RATE_LIMIT = "2/min"
    writer, reader = api_as(write_token), api_as(read_token)
    assert [writer.get("/feed").status_code for _ in range(3)] == [200, 200, 429]
    assert reader.get("/feed").status_code == 200


# --- idempotency ---------------------------------------------------------------------------------------------


def test_idempotency_key_replays_the_original_response_and_stores_nothing_new(api_as, write_token):
    client = api_as(write_token)
    headers = {"Idempotency-Key": "batch-7"}
    first = client.post("/events", {"events": [event(), event()]}, headers=headers)
    again = client.post("/events", {"events": [event(), event()]}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ActivityEvent.objects.count() == 2


def test_idempotency_key_reused_for_another_body_is_422(api_as, write_token):
    client = api_as(write_token)
    client.post("/events", event(title="a"), headers={"Idempotency-Key": "k"})
    response = client.post("/events", event(title="b"), headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert ActivityEvent.objects.count() == 1


def test_idempotency_keys_are_per_project(api_as, write_token, other_project, outsider):
    other_token = ApiKey.objects.create_key(project=other_project, name="o", scope="write")[1]
    api_as(write_token).post("/events", event(), headers={"Idempotency-Key": "same"})
    response = api_as(other_token).post("/events", event(), headers={"Idempotency-Key": "same"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert ActivityEvent.objects.filter(project=other_project).count() == 1


def test_failed_request_does_not_burn_its_idempotency_key(api_as, write_token):
    client = api_as(write_token)
    assert client.post("/events", event(title=""), headers={"Idempotency-Key": "k"}).status_code == 422
    assert IdempotencyRecord.objects.count() == 0
    assert client.post("/events", event(), headers={"Idempotency-Key": "k"}).status_code == 201


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\there", "é"])
def test_malformed_idempotency_key_is_400(api_as, write_token, key):
    try:
        response = api_as(write_token).post("/events", event(), headers={"Idempotency-Key": key})
    except UnicodeEncodeError:  # the test client refuses non-latin-1 header values itself
        return
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_external_id_makes_a_resend_return_the_stored_event(api_as, write_token):
    client = api_as(write_token)
    first = client.post("/events", event(external_id="run-42"))
    again = client.post("/events", event(external_id="run-42"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert ActivityEvent.objects.count() == 1


def test_batch_with_known_external_ids_stores_only_the_new_ones(api_as, write_token):
    client = api_as(write_token)
    client.post("/events", {"events": [event(external_id="a"), event(external_id="b")]})
    response = client.post("/events", {"events": [event(external_id="b"), event(external_id="c"), event()]})
    body = response.json()
    assert response.status_code == 201
    assert (body["created"], body["existing"]) == (2, 1)
    assert [item["created"] for item in body["events"]] == [False, True, True]
    assert ActivityEvent.objects.count() == 4


def test_external_id_twice_in_one_batch_is_422(api_as, write_token):
    response = api_as(write_token).post("/events", {"events": [event(external_id="x"), event(external_id="x")]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["index"] == 1
    assert ActivityEvent.objects.count() == 0


def test_external_ids_are_per_project(api_as, write_token, other_project):
    other_token = ApiKey.objects.create_key(project=other_project, name="o", scope="write")[1]
    api_as(write_token).post("/events", event(external_id="same"))
    assert api_as(other_token).post("/events", event(external_id="same")).status_code == 201
    assert ActivityEvent.objects.count() == 2


# --- PATCH ---------------------------------------------------------------------------------------------------


@pytest.fixture
def running(api_as, write_token):
    return api_as(write_token).post("/events", event(metadata={"a": 1, "nested": {"x": 1, "y": 2}})).json()["id"]


@pytest.mark.parametrize("final", ["COMPLETED", "FAILED"])
def test_in_progress_event_can_finish(api_as, write_token, running, final):
    response = api_as(write_token).patch(f"/events/{running}", {"status": final, "duration": 1234})
    assert response.status_code == 200
    stored = ActivityEvent.objects.get(pk=running)
    assert (stored.status, stored.duration) == (final, 1234)


def test_finishing_without_duration_records_elapsed_time(api_as, write_token, running):
    api_as(write_token).patch(f"/events/{running}", {"status": "COMPLETED"})
    assert ActivityEvent.objects.get(pk=running).duration is not None


@pytest.mark.parametrize("first, second", [("COMPLETED", "FAILED"), ("FAILED", "COMPLETED")])
def test_finished_event_cannot_change_status_409(api_as, write_token, running, first, second):
    client = api_as(write_token)
    client.patch(f"/events/{running}", {"status": first})
    response = client.patch(f"/events/{running}", {"status": second})
    assert response.status_code == 409
    assert f"already {first}" in response.json()["detail"]
    assert ActivityEvent.objects.get(pk=running).status == first


def test_repeating_the_same_final_status_is_a_no_op(api_as, write_token, running):
    client = api_as(write_token)
    client.patch(f"/events/{running}", {"status": "COMPLETED", "duration": 10})
    assert client.patch(f"/events/{running}", {"status": "COMPLETED"}).status_code == 200
    assert ActivityEvent.objects.get(pk=running).duration == 10


@pytest.mark.parametrize("body", [{"status": "IN_PROGRESS"}, {"status": "DONE"}, {}, {"duration": -5}, {"title": "x"}])
def test_invalid_patch_is_422(api_as, write_token, running, body):
    assert api_as(write_token).patch(f"/events/{running}", body).status_code == 422


def test_metadata_is_merged_as_a_json_merge_patch(api_as, write_token, running):
    response = api_as(write_token).patch(f"/events/{running}", {"metadata": {"a": None, "b": 2, "nested": {"y": 3}}})
    assert response.json()["metadata"] == {"b": 2, "nested": {"x": 1, "y": 3}}
    assert ActivityEvent.objects.get(pk=running).metadata == {"b": 2, "nested": {"x": 1, "y": 3}}


def test_merged_metadata_over_the_size_limit_is_422(api_as, write_token, running):
    client = api_as(write_token)
    assert client.patch(f"/events/{running}", {"metadata": {"p1": "x" * 40_000}}).status_code == 200
    response = client.patch(f"/events/{running}", {"metadata": {"p2": "y" * 40_000}})
    assert response.status_code == 422
    assert "p2" not in (ActivityEvent.objects.get(pk=running).metadata or {})


def test_patching_another_projects_event_is_404(api_as, write_token, other_project):
    theirs = ActivityEvent.objects.create(project=other_project, event_type="INDEXING_STARTED", title="t", entity_type="x")
    response = api_as(write_token).patch(f"/events/{theirs.pk}", {"status": "FAILED"})
    assert response.status_code == 404
    assert ActivityEvent.objects.get(pk=theirs.pk).status == "IN_PROGRESS"


@pytest.mark.parametrize("event_id", ["0", "-1", "abc", str(2**63), "1.5"])
def test_patch_with_an_impossible_id_is_a_422_naming_the_id(api_as, write_token, event_id):
    response = api_as(write_token).patch(f"/events/{event_id}", {"status": "FAILED"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "event_id"


def test_patch_with_idempotency_key_replays(api_as, write_token, running):
    client = api_as(write_token)
    headers = {"Idempotency-Key": "finish-1"}
    first = client.patch(f"/events/{running}", {"status": "FAILED", "metadata": {"error": "boom"}}, headers=headers)
    again = client.patch(f"/events/{running}", {"status": "FAILED", "metadata": {"error": "boom"}}, headers=headers)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"


# --- actions -------------------------------------------------------------------------------------------------


def test_single_action_is_stored(api_as, write_token, project):
    body = {"action_type": "deployment", "action_details": "Deployed to fly.io", "environment": "production"}
    response = api_as(write_token).post("/actions", body)
    assert response.status_code == 201
    stored = ProjectAction.objects.get(action_id=response.json()["action_id"])
    assert (stored.project, stored.action_type, stored.environment, stored.status) == (
        project,
        "deployment",
        "production",
        "success",
    )


def test_custom_action_types_are_accepted(api_as, write_token):
    assert api_as(write_token).post("/actions", {"action_type": "cache_warmed"}).status_code == 201


def test_action_batch_is_atomic(api_as, write_token):
    client = api_as(write_token)
    good = {"action_type": "github_push", "action_details": "Pushed 5 files"}
    response = client.post("/actions", {"actions": [good, {"action_type": "Bad Type"}, good]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["index"] == 1
    assert ProjectAction.objects.count() == 0
    response = client.post("/actions", {"actions": [good] * 3})
    assert response.status_code == 201 and response.json()["created"] == 3


def test_action_batch_over_1000_is_413(api_as, write_token):
    response = api_as(write_token).post("/actions", {"actions": [{"action_type": "deployment"}] * 1001})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [{"action_type": "x" * 65}, {"action_type": "deployment", "status": "ok"}, {"action_type": "d", "environment": ""}],
)
def test_invalid_action_is_422(api_as, write_token, body):
    assert api_as(write_token).post("/actions", body).status_code == 422


def test_action_with_idempotency_key_is_stored_once(api_as, write_token):
    client = api_as(write_token)
    for _ in range(3):
        client.post("/actions", {"action_type": "deployment"}, headers={"Idempotency-Key": "deploy-9"})
    assert ProjectAction.objects.count() == 1


def test_batch_stores_every_field_exactly_as_sent(api_as, write_token, project):
    # Batches of ten or more take the PostgreSQL bulk path: what is stored must equal the single-event path.
    items = [
        event(title=f"t{i}", entity_id=None if i % 2 else f"id{i}", description=None if i % 3 else "d\u00e9j\u00e0 \U0001f680",
              metadata=None if i % 2 else {"n": i, "nested": {"ok": True}, "list": [1, "two", None]},
              status="FAILED" if i % 4 == 0 else "COMPLETED", duration=None if i % 5 else i, external_id=f"x{i}")
        for i in range(12)
    ]
    response = api_as(write_token).post("/events", {"events": items})
    assert response.status_code == 201
    for sent, returned in zip(items, response.json()["events"], strict=True):
        stored = ActivityEvent.objects.get(pk=returned["id"])
        assert stored.project == project and stored.user is None
        for field, value in sent.items():
            assert getattr(stored, field) == value, field
    assert ActivityEvent.objects.filter(metadata__isnull=True).count() == 6



@pytest.mark.parametrize(
    "message, transient",
    [
        ("database is locked", True),
        ("database table is locked: events_activityevent", True),
        ("the connection is closed", True),
        ("no such table: events_activityevent", False),
        ("no such column: metadata", False),
    ],
)
def test_only_transient_database_errors_become_503(message, transient):
    """A busy database is a retryable 503; a missing table (schema drift) must stay a loud 500."""
    from django.db import OperationalError

    from activityhub.faults import is_transient as _is_transient

    assert _is_transient(OperationalError(message)) is transient


def test_pruning_forgets_only_expired_idempotency_keys(api_as, write_token):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    client = api_as(write_token)
    client.post("/events", event(), headers={"Idempotency-Key": "old"})
    client.post("/events", event(), headers={"Idempotency-Key": "new"})
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    call_command("prune_idempotency_keys")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
