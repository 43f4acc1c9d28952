"""The conversations API: conversations and batched messages, message events with messageId moved to the FK."""
# ruff: noqa: F811 — the shared fixtures are imported by name, and pytest passes them as same-named arguments.

import pytest

from events.models.messages import Conversation, Message, MessageEvent
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403
from tests.conversation_fixtures import answer, conversation, question  # noqa: F401


def test_create_conversation_with_messages(api_as, write_token, project):
    response = api_as(write_token).post("/conversations", {
        "title": "Key rotation", "externalId": "chat-42",
        "messages": [
            {"role": "user", "content": "How?"},
            {"role": "assistant", "content": "Like this.", "chunkIds": ["kb-1", "kb-2", "kb-1"]},
        ],
    })
    assert response.status_code == 201, response.content
    body = response.json()
    conversation = Conversation.objects.get(pk=body["id"])
    assert (conversation.project, conversation.external_id) == (project, "chat-42")
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert Message.objects.get(pk=body["messages"][1]["id"]).chunk_ids == ["kb-1", "kb-2"]


def test_duplicate_external_id_is_a_409_naming_the_existing_conversation(api_as, write_token, conversation):
    response = api_as(write_token).post("/conversations", {"title": "Again", "external_id": "conv-1"})
    assert response.status_code == 409
    assert f"id {conversation.pk}" in response.json()["detail"]
    assert Conversation.objects.count() == 1


def test_add_messages_in_a_batch_and_read_them_back(api_as, write_token, conversation):
    client = api_as(write_token)
    batch = {"messages": [{"role": "user", "content": f"q{i}"} for i in range(3)]}
    response = client.post(f"/conversations/{conversation.pk}/messages", batch)
    assert response.status_code == 201
    assert len(response.json()["messages"]) == 3
    read = client.get(f"/conversations/{conversation.pk}").json()
    assert [m["content"] for m in read["messages"]] == ["q0", "q1", "q2"]


def test_retrying_a_batch_with_the_same_idempotency_key_adds_nothing(api_as, write_token, conversation):
    client = api_as(write_token)
    batch = {"messages": [{"role": "user", "content": "once"}]}
    first = client.post(f"/conversations/{conversation.pk}/messages", batch, headers={"Idempotency-Key": "k-1"})
    again = client.post(f"/conversations/{conversation.pk}/messages", batch, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert conversation.messages.count() == 1


def test_a_batch_over_the_limit_is_413_and_stores_nothing(api_as, write_token, conversation):
    batch = {"messages": [{"role": "user", "content": "x"}] * 501}
    response = api_as(write_token).post(f"/conversations/{conversation.pk}/messages", batch)
    assert response.status_code == 413
    assert not conversation.messages.exists()


def test_an_invalid_message_in_a_batch_stores_none(api_as, write_token, conversation):
    batch = {"messages": [{"role": "user", "content": "fine"}, {"role": "robot", "content": "bad"}]}
    response = api_as(write_token).post(f"/conversations/{conversation.pk}/messages", batch)
    assert response.status_code == 422
    assert not conversation.messages.exists()


def test_another_projects_conversation_is_404(api_as, other_project, write_token):
    theirs = Conversation.objects.create(project=other_project, title="Theirs")
    client = api_as(write_token)
    assert client.get(f"/conversations/{theirs.pk}").status_code == 404
    assert client.post(f"/conversations/{theirs.pk}/messages", {"messages": [{"role": "user", "content": "x"}]}).status_code == 404
    assert not theirs.messages.exists()


def test_read_only_key_cannot_create_but_can_read(api_as, read_token, conversation, answer):
    client = api_as(read_token)
    assert client.post("/conversations", {"title": "Nope"}).status_code == 403
    assert client.post("/message-events", {"eventType": "copy", "messageId": answer.pk}).status_code == 403
    assert client.get(f"/conversations/{conversation.pk}").status_code == 200
    assert client.get(f"/messages/{answer.pk}/events").status_code == 200
    assert Conversation.objects.count() == 1 and not MessageEvent.objects.exists()


def test_message_id_in_metadata_moves_to_the_fk_and_leaves_metadata(api_as, write_token, answer):
    response = api_as(write_token).post("/message-events", {
        "eventType": "expansion_followup",
        "metadata": {"messageId": str(answer.pk), "result": "clicked", "expansion_type": "examples"},
    })
    assert response.status_code == 201, response.content
    event = MessageEvent.objects.get(pk=response.json()["id"])
    assert event.message_id == answer.pk and event.conversation_id == answer.conversation_id
    assert event.metadata == {"result": "clicked", "expansion_type": "examples"}
    assert event.chunk_ids == answer.chunk_ids


def test_metadata_holding_only_the_message_id_is_stored_as_null(api_as, write_token, answer):
    response = api_as(write_token).post("/message-events", {"eventType": "gap_submission", "metadata": {"messageId": answer.pk}})
    assert response.status_code == 201
    event = MessageEvent.objects.get()
    assert event.metadata is None and event.message_id == answer.pk


def test_message_id_in_the_body_and_feedback_in_metadata(api_as, write_token, answer):
    response = api_as(write_token).post("/message-events", {
        "event_type": "user_message", "message_id": answer.pk,
        "metadata": {"feedbackType": "need_more", "needsMore": ["scripts"]}, "chunk_ids": ["kb-keys-01"],
    })
    assert response.status_code == 201
    event = MessageEvent.objects.get()
    assert (event.feedback, event.metadata, event.chunk_ids) == ("need_more", {"needsMore": ["scripts"]}, ["kb-keys-01"])


def test_events_of_a_message_are_read_by_the_fk(api_as, write_token, answer):
    client = api_as(write_token)
    client.post("/message-events", {"eventType": "copy", "messageId": answer.pk, "metadata": {"copyUsage": "use_now"}})
    client.post("/message-events", {"eventType": "conversation_pattern", "conversationId": answer.conversation_id})
    events = client.get(f"/messages/{answer.pk}/events").json()
    assert [e["event_type"] for e in events] == ["copy"]
    assert events[0]["metadata"] == {"copyUsage": "use_now"}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"eventType": "copy", "messageId": 999999}, "messageId 999999 does not match any message in this project"),
    ({"eventType": "copy", "metadata": {"messageId": "999999"}}, "messageId 999999 does not match any message"),
    ({"eventType": "copy", "messageId": "abc"}, "messageId must be the integer id"),
    ({"eventType": "copy", "messageId": -4}, "messageId must be the integer id"),
    ({"eventType": "copy", "messageId": 2**70}, "messageId must be the integer id"),
    ({"eventType": "copy", "metadata": {"messageId": True}}, "messageId must be the integer id"),
    ({"eventType": "copy", "metadata": {"messageId": {"id": 3}}}, "messageId must be the integer id"),
    ({"eventType": "copy"}, "give its messageId"),
    ({"eventType": "conversation_pattern"}, "Give messageId or conversationId"),
    ({"eventType": "conversation_pattern", "conversationId": 999999}, "conversationId 999999 does not match"),
    ({"eventType": "user_message", "messageId": "ANSWER"}, "needs feedback"),
    ({"eventType": "copy", "messageId": "ANSWER", "feedback": "helpful"}, "only for user_message"),
    ({"eventType": "copy", "messageId": "ANSWER", "metadata": {"messageId": 1}}, "messageId differs"),
])
def test_bad_message_ids_and_events_are_422_with_a_clear_message(api_as, write_token, answer, body, fragment):
    body = {k: (answer.pk if v == "ANSWER" else v) for k, v in body.items()}
    response = api_as(write_token).post("/message-events", body)
    assert response.status_code == 422, response.content
    assert fragment in response.json()["detail"]
    assert not MessageEvent.objects.exists()


def test_a_message_of_another_project_is_422_like_an_unknown_one(api_as, other_project, write_token):
    theirs = Conversation.objects.create(project=other_project, title="Theirs")
    message = Message.objects.create(conversation=theirs, role="assistant", content="secret")
    response = api_as(write_token).post("/message-events", {"eventType": "copy", "messageId": message.pk})
    assert response.status_code == 422
    assert response.json()["detail"] == f"messageId {message.pk} does not match any message in this project."
    assert api_as(write_token).get(f"/messages/{message.pk}/events").status_code == 404


def test_unknown_event_type_is_422(api_as, write_token, answer):
    response = api_as(write_token).post("/message-events", {"eventType": "like", "messageId": answer.pk})
    assert response.status_code == 422


def test_revoked_key_is_401(api_as, write_token, project):
    from django.utils import timezone

    ApiKey.objects.filter(project=project).update(revoked_at=timezone.now())
    assert api_as(write_token).post("/conversations", {"title": "x"}).status_code == 401


@pytest.mark.parametrize("body", [
    {"title": "nul\x00byte"},
    {"title": "   "},
    {"title": "ok", "messages": [{"role": "user", "content": "bad\x00"}]},
    {"title": "ok", "messages": [{"role": "user", "content": ""}]},
    {"title": "ok", "staus": "typo"},
])
def test_unstorable_conversation_input_is_422(api_as, write_token, body):
    response = api_as(write_token).post("/conversations", body)
    assert response.status_code == 422
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday"])
def test_unstorable_event_timestamp_is_422(api_as, write_token, answer, timestamp):
    response = api_as(write_token).post("/message-events", {"eventType": "copy", "messageId": answer.pk, "timestamp": timestamp})
    assert response.status_code == 422
    assert not MessageEvent.objects.exists()


def test_naive_event_timestamp_is_taken_as_utc(api_as, write_token, answer):
    response = api_as(write_token).post("/message-events", {"eventType": "copy", "messageId": answer.pk, "timestamp": "2026-01-14T11:29:37"})
    assert response.status_code == 201
    assert MessageEvent.objects.get().timestamp.isoformat() == "2026-01-14T11:29:37+00:00"
