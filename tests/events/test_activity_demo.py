"""Demo activity: a month of events and actions, some running and some failed, loaded once."""

import io
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from events.models.activity import ActivityEvent, EventStatus, ProjectAction
from projects.models import Project


def test_demo_activity_is_realistic_and_idempotent(db):
    call_command("demo_data", stdout=io.StringIO())
    counts = (ActivityEvent.objects.count(), ProjectAction.objects.count())
    call_command("demo_data", stdout=io.StringIO())
    assert (ActivityEvent.objects.count(), ProjectAction.objects.count()) == counts
    for project in Project.objects.all():
        events = ActivityEvent.objects.for_project(project)
        assert events.count() > 300
        assert events.in_progress().exists() and events.failed().exists()
        assert events.since(timezone.now() - timedelta(days=31)).count() == events.count()
        assert events.since(timezone.now() - timedelta(days=1)).exists()  # something happened today
        actions = ProjectAction.objects.for_project(project)
        assert actions.failed().exists() and actions.in_progress().exists()
        assert actions.filter(action_type="project_created").count() == 1
        assert {e.category for e in events[:500]} >= {"indexing", "apr", "chat", "auto_fix"}
    assert ActivityEvent.objects.filter(status=EventStatus.IN_PROGRESS).count() >= 2
