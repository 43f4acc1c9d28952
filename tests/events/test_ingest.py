"""events.ingest: the one write path of activity events, shared by the API and events.tracking."""

import pytest
from pydantic import ValidationError

from events.ingest import (
    StatusConflict,
    events_finished,
    events_recorded,
    ingest_events,
    update_event,
    validate_event,
)
from events.models.activity import ActivityEvent, EventStatus, EventType
from events.tracking import finish_event, track_event, tracked_event
from tests.api_fixtures import *  # noqa: F403


@pytest.fixture
def recorded():
    calls = []

    def receiver(sender, project, event_ids, user, **kwargs):
        calls.append((project.pk, list(event_ids), user))

    events_recorded.connect(receiver, weak=False)
    yield calls
    events_recorded.disconnect(receiver)


def item(**extra):
    return validate_event(event_type=EventType.INDEXING_STARTED, title="Indexing main", entity_type="indexing", **extra)


def test_validate_event_refuses_what_the_api_refuses():
    with pytest.raises(ValidationError, match="event_type"):
        validate_event(event_type="NOT_A_TYPE", title="t", entity_type="x")
    with pytest.raises(ValidationError, match="title"):
        validate_event(event_type=EventType.INDEXING_STARTED, title="   ", entity_type="x")


def test_defaults_are_in_progress_and_stamped_now(project):
    [(event, created)] = ingest_events(project, [item()])
    stored = ActivityEvent.objects.get(pk=event.pk)
    assert created and stored.status == EventStatus.IN_PROGRESS
    assert stored.created_at is not None and stored.updated_at >= stored.created_at


def test_a_known_external_id_returns_the_stored_event(project):
    [(first, _)] = ingest_events(project, [item(external_id="run-1")])
    [(again, created)] = ingest_events(project, [item(external_id="run-1")])
    assert again.pk == first.pk and created is False
    assert ActivityEvent.objects.filter(project=project).count() == 1


def test_batch_keeps_input_order_and_stores_every_item(project):
    items = [item(entity_id=f"repo-{i}") for i in range(25)]
    stored = ingest_events(project, items, instances=False)
    ids = [e.pk for e, _ in stored]
    assert list(ActivityEvent.objects.filter(pk__in=ids).order_by("entity_id").values_list("entity_id", flat=True)) == sorted(
        f"repo-{i}" for i in range(25)
    )
    assert [ActivityEvent.objects.get(pk=pk).entity_id for pk in ids[:3]] == ["repo-0", "repo-1", "repo-2"]


def test_hook_is_sent_after_commit_with_the_new_ids(project, owner, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stored = ingest_events(project, [item(), item()], user=owner)
    assert recorded == []  # nothing is announced before the write commits
    for callback in callbacks:
        callback()
    assert recorded == [(project.pk, [e.pk for e, _ in stored], owner)]


def test_tracking_goes_through_the_same_path(project, owner, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = track_event(project=project, event_type=EventType.CHAT_MESSAGE_SENT, entity_type="chat_message",
                            title="Question sent", user=owner, status=EventStatus.COMPLETED)
    assert recorded == [(project.pk, [event.pk], owner)]
    assert ActivityEvent.objects.get(pk=event.pk).user == owner


def test_api_writes_go_through_the_same_path(api_as, write_token, project, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(write_token).post(
            "/events", {"event_type": "INDEXING_STARTED", "title": "Indexing", "entity_type": "indexing"}
        )
    assert response.status_code == 201
    assert recorded == [(project.pk, [response.json()["id"]], None)]


# --- changes to a stored event: update_event, the rule PATCH /events/{id} and tracking.finish_event share ---


@pytest.fixture
def finished():
    calls = []

    def receiver(sender, project, event_ids, user, **kwargs):
        calls.append((project.pk, list(event_ids)))

    events_finished.connect(receiver, weak=False)
    yield calls
    events_finished.disconnect(receiver)


def test_failing_a_running_event_is_announced_after_commit(project, finished, django_capture_on_commit_callbacks):
    [(event, _)] = ingest_events(project, [item()])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        update_event(event, status=EventStatus.FAILED, metadata_patch={"error": "boom"})
        assert finished == []  # nothing before the commit
    assert len(callbacks) == 1 and finished == [(project.pk, [event.pk])]
    stored = ActivityEvent.objects.get(pk=event.pk)
    assert stored.status == EventStatus.FAILED and stored.metadata == {"error": "boom"}
    assert stored.duration is not None and stored.duration >= 0


def test_changes_that_finish_nothing_are_not_announced(project, finished, django_capture_on_commit_callbacks):
    [(event, _)] = ingest_events(project, [item()])
    with django_capture_on_commit_callbacks(execute=True):
        update_event(event, duration=5, metadata_patch={"step": 1})
        update_event(event, status=EventStatus.COMPLETED)
        update_event(event, status=EventStatus.COMPLETED)  # the same final status again: a no-op
    assert finished == [(project.pk, [event.pk])]


def test_a_finished_event_keeps_its_status_and_the_conflict_says_why(project):
    [(event, _)] = ingest_events(project, [item(status=EventStatus.COMPLETED)])
    with pytest.raises(StatusConflict, match="already COMPLETED"):
        update_event(event, status=EventStatus.FAILED)
    assert ActivityEvent.objects.get(pk=event.pk).status == EventStatus.COMPLETED


def test_tracking_finishes_by_the_same_rule(project, finished, django_capture_on_commit_callbacks):
    """tracked_event's FAILED mark is announced like a PATCH, and a second finish with another status is refused."""
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        tracked_event(project=project, event_type=EventType.INDEXING_STARTED, entity_type="indexing",
                      title="Indexing main") as event,
    ):
        raise RuntimeError("indexer crashed")
    assert finished == [(project.pk, [event.pk])]
    assert finish_event(event, status=EventStatus.COMPLETED) is None  # logged, not raised: it is FAILED already
    assert ActivityEvent.objects.get(pk=event.pk).status == EventStatus.FAILED


def test_merged_metadata_must_stay_valid(project):
    [(event, _)] = ingest_events(project, [item(metadata={"a": 1})])
    with pytest.raises(ValueError, match="surrogate"):
        update_event(event, metadata_patch={"b": "\ud800"})
    assert ActivityEvent.objects.get(pk=event.pk).metadata == {"a": 1}
