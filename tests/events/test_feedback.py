"""Feedback on answers: each kind, one of a kind per user per message, the copy two-stage flow, bookmarks."""
# ruff: noqa: F811 — the shared fixtures are imported by name, and pytest passes them as same-named arguments.


import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from events import feedback as acts
from events.models.messages import Bookmark, Message, MessageEvent
from tests.conversation_fixtures import answer, conversation, fresh_cache, question  # noqa: F401


def post(client, name, project, message, data=None, htmx=True, **kwargs):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse(f"events:{name}", args=[project.slug, message.pk, *kwargs.values()]), data or {}, **headers)


def ratings(message, user):
    return list(MessageEvent.objects.ratings().filter(message=message, user=user).values_list("feedback", flat=True))


def test_helpful_is_recorded_with_the_message_fk_and_no_message_id_in_metadata(client_for, project, owner, answer):
    response = post(client_for(owner), "feedback", project, answer, {"feedback": "helpful"})
    assert response.status_code == 200
    event = MessageEvent.objects.get(message=answer)
    assert (event.event_type, event.feedback, event.user, event.conversation_id) == ("user_message", "helpful", owner, answer.conversation_id)
    assert event.chunk_ids == ["kb-keys-01", "kb-keys-02"]
    assert "messageId" not in (event.metadata or {})
    assert 'aria-pressed="true"' in response.content.decode()


def test_giving_the_same_rating_twice_stores_one(client_for, project, owner, answer):
    client = client_for(owner)
    post(client, "feedback", project, answer, {"feedback": "not_helpful"})
    post(client, "feedback", project, answer, {"feedback": "not_helpful"})
    assert ratings(answer, owner) == ["not_helpful"]


def test_switching_helpful_to_not_helpful_replaces_and_never_duplicates(client_for, project, owner, answer):
    client = client_for(owner)
    post(client, "feedback", project, answer, {"feedback": "helpful"})
    first = MessageEvent.objects.get(message=answer)
    post(client, "feedback", project, answer, {"feedback": "not_helpful"})
    post(client, "feedback", project, answer, {"feedback": "helpful"})
    assert ratings(answer, owner) == ["helpful"]
    assert MessageEvent.objects.filter(message=answer).count() == 1
    assert MessageEvent.objects.get(message=answer).pk == first.pk


def test_ratings_of_different_users_are_separate(client_for, project, owner, viewer, answer):
    post(client_for(owner), "feedback", project, answer, {"feedback": "helpful"})
    post(client_for(viewer), "feedback", project, answer, {"feedback": "not_helpful"})
    assert ratings(answer, owner) == ["helpful"] and ratings(answer, viewer) == ["not_helpful"]


def test_need_more_records_reasons_and_situation_and_updates_in_place(client_for, project, owner, answer):
    client = client_for(owner)
    data = {"feedback": "need_more", "needs_more": ["scripts", "case_study"], "specific_situation": "  A monorepo  "}
    assert post(client, "feedback", project, answer, data).status_code == 200
    post(client, "feedback", project, answer, {"feedback": "need_more", "needs_more": ["steps"]})
    events = MessageEvent.objects.need_more().filter(message=answer, user=owner)
    assert events.count() == 1
    assert events.get().metadata == {"feedbackType": "need_more", "needsMore": ["steps"], "specificSituation": None}


def test_need_more_and_a_rating_coexist(client_for, project, owner, answer):
    client = client_for(owner)
    post(client, "feedback", project, answer, {"feedback": "helpful"})
    post(client, "feedback", project, answer, {"feedback": "need_more", "needs_more": ["examples"], "specific_situation": "For Go"})
    assert sorted(MessageEvent.objects.feedback().filter(message=answer).values_list("feedback", flat=True)) == ["helpful", "need_more"]


def test_need_more_without_reason_or_text_is_a_422_that_says_what_to_do(client_for, project, owner, answer):
    response = post(client_for(owner), "feedback", project, answer, {"feedback": "need_more"})
    assert response.status_code == 422
    assert "Tick what would help" in response.content.decode()
    assert not MessageEvent.objects.exists()


@pytest.mark.parametrize("data", [{}, {"feedback": "great"}, {"feedback": "need_more", "needs_more": ["poems"]}])
def test_bad_feedback_input_is_a_422_not_a_500(client_for, project, owner, answer, data):
    assert post(client_for(owner), "feedback", project, answer, data).status_code == 422
    assert not MessageEvent.objects.exists()


def test_the_database_refuses_a_second_rating_for_the_same_user_and_message(project, owner, answer):
    acts.rate(answer, owner, "helpful")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageEvent.objects.create(message=answer, conversation=answer.conversation, user=owner,
                                    event_type="user_message", feedback="not_helpful")
    acts.ask_for_more(answer, owner, ["steps"])
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageEvent.objects.create(message=answer, conversation=answer.conversation, user=owner,
                                    event_type="user_message", feedback="need_more")


def test_a_lost_insert_race_updates_the_winning_row(project, owner, answer, monkeypatch):
    # Simulate the race: another request inserts between our "is there a rating?" read and our insert.
    real_create = MessageEvent.objects.create
    calls: list[int] = []

    def create_after_other_request(**kwargs):
        if not calls:
            calls.append(1)
            real_create(**{**kwargs, "feedback": "helpful"})
        return real_create(**kwargs)

    monkeypatch.setattr(MessageEvent.objects, "create", create_after_other_request)
    event = acts.rate(answer, owner, "not_helpful")
    assert event.feedback == "not_helpful"
    assert ratings(answer, owner) == ["not_helpful"]


def test_copy_two_stage_flow_updates_the_same_event(client_for, project, owner, answer):
    client = client_for(owner)
    response = post(client, "copy", project, answer)
    assert response.status_code == 200
    event = MessageEvent.objects.copies().get(message=answer)
    assert event.metadata == {"copyUsage": None, "copyContext": None}
    body = response.content.decode()
    assert "How will you use it?" in body
    assert reverse("events:copy_usage", args=[project.slug, answer.pk, event.pk]) in body

    response = post(client, "copy_usage", project, answer, {"usage": "use_now", "context": "pasting into the runbook"}, event_id=event.pk)
    assert response.status_code == 200
    assert MessageEvent.objects.copies().count() == 1
    event.refresh_from_db()
    assert event.metadata == {"copyUsage": "use_now", "copyContext": "pasting into the runbook"}
    assert event.message_id == answer.pk
    assert "How will you use it?" not in response.content.decode()


def test_copy_usage_needs_a_choice(client_for, project, owner, answer):
    client = client_for(owner)
    post(client, "copy", project, answer)
    event = MessageEvent.objects.copies().get()
    response = post(client, "copy_usage", project, answer, {"usage": "frame it"}, event_id=event.pk)
    assert response.status_code == 422
    assert "Choose how you will use" in response.content.decode()
    event.refresh_from_db()
    assert event.metadata["copyUsage"] is None


def test_someone_elses_copy_event_cannot_be_answered(client_for, project, owner, viewer, answer):
    post(client_for(owner), "copy", project, answer)
    event = MessageEvent.objects.copies().get()
    response = post(client_for(viewer), "copy_usage", project, answer, {"usage": "share"}, event_id=event.pk)
    assert response.status_code == 404


def test_copy_without_javascript_redirects_to_the_usage_question(client_for, project, owner, answer):
    client = client_for(owner)
    response = post(client, "copy", project, answer, htmx=False)
    event = MessageEvent.objects.copies().get()
    assert response.status_code == 302
    assert f"?copied={event.pk}#message-{answer.pk}" in response["Location"]
    page = client.get(response["Location"].split("#")[0])
    assert "How will you use it?" in page.content.decode()
    response = post(client, "copy_usage", project, answer, {"usage": "adapt"}, htmx=False, event_id=event.pk)
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.metadata["copyUsage"] == "adapt"


def test_bookmark_toggles_and_records_a_bookmark_event(client_for, project, owner, answer):
    client = client_for(owner)
    response = post(client, "bookmark", project, answer)
    assert '<span aria-hidden="true">★</span> Bookmarked' in response.content.decode()
    assert Bookmark.objects.filter(user=owner, message=answer).exists()
    assert MessageEvent.objects.filter(message=answer, event_type="bookmark").count() == 1
    response = post(client, "bookmark", project, answer)
    assert '<span aria-hidden="true">☆</span> Bookmark' in response.content.decode()
    assert not Bookmark.objects.exists()


def test_feedback_without_javascript_redirects_back_to_the_answer(client_for, project, owner, answer):
    client = client_for(owner)
    response = post(client, "feedback", project, answer, {"feedback": "helpful"}, htmx=False)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/conversations/{answer.conversation_id}/#message-{answer.pk}")
    page = client.get(response["Location"]).content.decode()
    assert "Marked helpful." in page


def test_viewers_may_give_feedback_and_bookmark_because_it_is_their_own_opinion(client_for, project, viewer, answer):
    client = client_for(viewer)
    assert post(client, "feedback", project, answer, {"feedback": "helpful"}).status_code == 200
    assert post(client, "bookmark", project, answer).status_code == 200
    assert post(client, "copy", project, answer).status_code == 200
    assert MessageEvent.objects.filter(user=viewer).count() == 3


def test_feedback_on_a_user_message_or_another_projects_answer_is_404(client_for, project, owner, question, answer):
    from projects.models import Membership, Project

    assert post(client_for(owner), "feedback", project, question, {"feedback": "helpful"}).status_code == 404
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=owner, role="owner")
    # The answer exists, but not in the project named by the URL.
    assert post(client_for(owner), "feedback", other, answer, {"feedback": "helpful"}).status_code == 404
    assert not MessageEvent.objects.exists()


def test_deleting_a_message_by_raw_sql_cascades_to_its_events_and_bookmarks(project, owner, viewer, answer):
    acts.rate(answer, owner, "helpful")
    acts.ask_for_more(answer, viewer, ["steps"])
    acts.record_copy(answer, owner)
    acts.toggle_bookmark(answer, owner)
    unrelated = MessageEvent.objects.create(conversation=answer.conversation, event_type="conversation_pattern")
    assert MessageEvent.objects.filter(message=answer).count() == 4
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table} WHERE id = %s", [answer.pk])
    assert not MessageEvent.objects.filter(message_id=answer.pk).exists()
    assert not Bookmark.objects.exists()
    assert MessageEvent.objects.filter(pk=unrelated.pk).exists()
