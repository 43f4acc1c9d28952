"""Hooks into events.ingest: one cheap task per recorded batch, ids only; matching happens in the worker."""

from django.db.models import Exists, OuterRef
from django.dispatch import receiver

from events.ingest import actions_recorded, events_recorded
from events.models.activity import ActivityEvent, ProjectAction
from projects.models import Project

from .models import Level, Preference, Source, Subscription, Watch
from .sending import deliver_batch


def _has_rules(project) -> bool:
    """One indexed query: does anything in the project want to hear about new activity?"""
    return Project.objects.filter(
        Exists(Subscription.objects.filter(project=OuterRef("pk"), enabled=True))
        | Exists(Preference.objects.filter(project=OuterRef("pk")).exclude(level=Level.OFF))
        | Exists(Watch.objects.filter(project=OuterRef("pk"))),
        pk=project.pk,
    ).exists()


def _enqueue(project, source, ids):
    if _has_rules(project):
        deliver_batch.enqueue(project.pk, source, list(ids))


@receiver(events_recorded, sender=ActivityEvent, dispatch_uid="notifications.events")
def on_events_recorded(sender, project, event_ids, **kwargs):
    _enqueue(project, Source.EVENT, event_ids)


@receiver(actions_recorded, sender=ProjectAction, dispatch_uid="notifications.actions")
def on_actions_recorded(sender, project, action_ids, **kwargs):
    _enqueue(project, Source.ACTION, action_ids)
