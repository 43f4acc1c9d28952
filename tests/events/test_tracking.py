"""events.tracking: recording activity never breaks the caller, and the app's own flows are recorded."""

import logging

import pytest
from django.db import connection, transaction
from django.urls import reverse

from events.models.activity import ActivityEvent, EventStatus, EventType, ProjectAction
from events.tracking import track_activity, track_event, tracked_event
from projects.models import Membership, Project


def test_track_activity_appends_an_audit_action(project, owner):
    action = track_activity(
        project=project, action_type="deployment", action_details="Deployed to fly.io: https://x.fly.dev",
        user=owner, request_id="req-1", environment="production",
    )
    stored = ProjectAction.objects.get(pk=action.pk)
    assert (stored.action_type, stored.environment, stored.request_id, stored.user) == (
        "deployment", "production", "req-1", owner
    )


def test_track_event_records_an_event(project):
    event = track_event(
        project=project, event_type=EventType.CHAT_MESSAGE_SENT, entity_type="chat_message", entity_id="m1",
        title="Question sent", status=EventStatus.COMPLETED, metadata={"tokens": 42},
    )
    assert ActivityEvent.objects.get(pk=event.pk).metadata == {"tokens": 42}


def test_invalid_event_inside_callers_transaction_is_logged_and_the_caller_commits(project, caplog):
    with caplog.at_level(logging.ERROR, logger="events.tracking"), transaction.atomic():
        Project.objects.create(name="Outer work", slug="outer-work")
        assert track_event(project=project, event_type="NOT_A_TYPE", entity_type="x", title="bad") is None
        Project.objects.create(name="More outer work", slug="more-outer-work")
    assert Project.objects.filter(slug__in=["outer-work", "more-outer-work"]).count() == 2
    assert not ActivityEvent.objects.exists()
    assert "Could not record activity event 'NOT_A_TYPE'" in caplog.text


def test_database_error_inside_callers_transaction_is_confined(project, caplog):
    """A real database error (the events table is gone) rolls back to the tracker's savepoint only."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE events_activityevent RENAME TO events_activityevent_gone")
    try:
        with caplog.at_level(logging.ERROR, logger="events.tracking"), transaction.atomic():
            Project.objects.create(name="Outer work", slug="outer-work")
            assert track_event(project=project, event_type=EventType.INDEXING_STARTED, entity_type="x", title="ok") is None
            Project.objects.create(name="More outer work", slug="more-outer-work")  # the transaction is still usable
        assert Project.objects.filter(slug__in=["outer-work", "more-outer-work"]).count() == 2
        assert "Could not record activity event 'INDEXING_STARTED'" in caplog.text
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE events_activityevent_gone RENAME TO events_activityevent")


def test_audit_failure_inside_transaction_returns_none_and_outer_commits(project, caplog):
    with transaction.atomic():
        Project.objects.create(name="Outer", slug="outer")
        assert track_activity(project=project, action_type="x", status="exploded") is None
    assert Project.objects.filter(slug="outer").exists()
    assert not ProjectAction.objects.exists()


def test_tracker_survives_a_missing_table(project, caplog):
    """Schema drift (a missing table) is logged, not raised into the caller."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE project_actions RENAME TO project_actions_gone")
    try:
        with transaction.atomic():
            Project.objects.create(name="Still works", slug="still-works")
            assert track_activity(project=project, action_type="deployment") is None
        assert Project.objects.filter(slug="still-works").exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE project_actions_gone RENAME TO project_actions")


def test_tracked_event_completes_with_duration(project):
    with tracked_event(project=project, event_type=EventType.INDEXING_STARTED, entity_type="indexing",
                       title="Indexing main") as event:
        assert ActivityEvent.objects.get(pk=event.pk).status == EventStatus.IN_PROGRESS
    stored = ActivityEvent.objects.get(pk=event.pk)
    assert stored.status == EventStatus.COMPLETED
    assert stored.duration is not None and stored.duration >= 0


def test_tracked_event_fails_with_the_error_and_reraises(project):
    with (
        pytest.raises(RuntimeError, match="indexer crashed"),
        tracked_event(project=project, event_type=EventType.INDEXING_STARTED, entity_type="indexing",
                      title="Indexing main", metadata={"branch": "main"}),
    ):
        raise RuntimeError("indexer crashed")
    stored = ActivityEvent.objects.get()
    assert stored.status == EventStatus.FAILED
    assert stored.metadata == {"branch": "main", "error": "RuntimeError: indexer crashed"}


def test_tracked_event_runs_the_block_even_if_it_cannot_record(project):
    ran = []
    with tracked_event(project=project, event_type="BOGUS", entity_type="x", title="t") as event:
        ran.append(True)
    assert ran == [True] and event is None


def test_creating_a_project_is_audited(client_for, owner):
    response = client_for(owner).post(reverse("projects:list"), {"name": "Rocket", "slug": "rocket"})
    assert response.status_code == 302
    action = ProjectAction.objects.get(project__slug="rocket")
    assert action.action_type == "project_created"
    assert action.user == owner
    assert "Rocket" in action.action_details


def test_adding_a_member_is_audited(client_for, project, owner, outsider):
    client_for(owner).post(reverse("projects:member_add", args=[project.slug]), {"username": outsider.username, "role": "editor"})
    assert Membership.objects.filter(project=project, user=outsider).exists()
    action = ProjectAction.objects.get(project=project, action_type="member_added")
    assert action.action_details == "oscar added as editor"
    assert action.user == owner


def test_changing_a_role_is_audited(client_for, project, owner, viewer):
    member = Membership.objects.get(project=project, user=viewer)
    client_for(owner).post(reverse("projects:member_role", args=[project.slug, member.pk]), {"role": "editor"})
    action = ProjectAction.objects.get(project=project, action_type="member_role_changed")
    assert action.action_details == "vera changed from viewer to editor"
    assert action.user == owner


def test_choosing_the_same_role_again_records_nothing(client_for, project, owner, viewer):
    member = Membership.objects.get(project=project, user=viewer)
    client_for(owner).post(reverse("projects:member_role", args=[project.slug, member.pk]), {"role": "viewer"})
    assert not ProjectAction.objects.filter(project=project, action_type="member_role_changed").exists()


def test_a_refused_role_change_records_nothing(client_for, project, owner):
    own = Membership.objects.get(project=project, user=owner)
    client_for(owner).post(reverse("projects:member_role", args=[project.slug, own.pk]), {"role": "viewer"})
    own.refresh_from_db()
    assert own.role == "owner"  # the last owner cannot step down
    assert not ProjectAction.objects.filter(project=project, action_type="member_role_changed").exists()


def test_removing_a_member_is_audited(client_for, project, owner, viewer):
    member = Membership.objects.get(project=project, user=viewer)
    client_for(owner).post(reverse("projects:member_remove", args=[project.slug, member.pk]))
    assert not Membership.objects.filter(project=project, user=viewer).exists()
    action = ProjectAction.objects.get(project=project, action_type="member_removed")
    assert action.action_details == "vera (viewer) removed"
    assert action.user == owner


def test_an_owner_leaving_is_audited_as_leaving(client_for, project, owner, viewer):
    Membership.objects.filter(project=project, user=viewer).update(role="owner")
    member = Membership.objects.get(project=project, user=viewer)
    client_for(viewer).post(reverse("projects:member_remove", args=[project.slug, member.pk]))
    action = ProjectAction.objects.get(project=project, action_type="member_removed")
    assert action.action_details == "vera left the project"
    assert action.user == viewer
