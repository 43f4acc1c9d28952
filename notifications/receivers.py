"""Hooks into events.ingest: one cheap task per recorded batch, ids only; matching happens in the worker."""

import time

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from events.ingest import actions_recorded, events_finished, events_recorded
from events.models.activity import ActivityEvent, ProjectAction
from monitoring.models import WorkflowExecution
from monitoring.runs import run_finished
from projects.models import Project

from .models import Delivery, Level, Preference, Source, Subscription, Watch
from .run_watches import deliver_run
from .sending import deliver_batch
from .watching import WORKFLOW, WORKFLOW_RUN

# project id → (monotonic expiry, has rules). Saves the query on every ingest; a rule saved or deleted in this
# process clears it at once, other processes see the change within NOTIFICATIONS_RULES_CACHE_SECONDS.
_rules_cache: dict[int, tuple[float, bool]] = {}


def forget_rules(project_id=None) -> None:
    if project_id is None:
        _rules_cache.clear()
    else:
        _rules_cache.pop(project_id, None)


def has_rules(project) -> bool:
    """Does anything in the project want to hear about new activity? (cached briefly per process)"""
    now = time.monotonic()
    cached = _rules_cache.get(project.pk)
    if cached is not None and cached[0] > now:
        return cached[1]
    answer = _query_has_rules(project)
    _rules_cache[project.pk] = (now + settings.NOTIFICATIONS_RULES_CACHE_SECONDS, answer)
    return answer


def _query_has_rules(project) -> bool:
    """One indexed query over the three kinds of rule."""
    return Project.objects.filter(
        Exists(Subscription.objects.filter(project=OuterRef("pk"), enabled=True))
        | Exists(Preference.objects.filter(project=OuterRef("pk")).exclude(level=Level.OFF))
        | Exists(Watch.objects.filter(project=OuterRef("pk"))),
        pk=project.pk,
    ).exists()


def _enqueue(project, source, ids):
    if has_rules(project):
        deliver_batch.enqueue(project.pk, source, list(ids))


@receiver(events_recorded, sender=ActivityEvent, dispatch_uid="notifications.events")
def on_events_recorded(sender, project, event_ids, **kwargs):
    _enqueue(project, Source.EVENT, event_ids)


@receiver(events_finished, sender=ActivityEvent, dispatch_uid="notifications.events_finished")
def on_events_finished(sender, project, event_ids, **kwargs):
    """An event recorded IN_PROGRESS that later completes or fails is matched again in its final status."""
    _enqueue(project, Source.EVENT, event_ids)


@receiver(actions_recorded, sender=ProjectAction, dispatch_uid="notifications.actions")
def on_actions_recorded(sender, project, action_ids, **kwargs):
    _enqueue(project, Source.ACTION, action_ids)


@receiver(run_finished, sender=WorkflowExecution, dispatch_uid="notifications.run_finished")
def on_run_finished(sender, execution, **kwargs):
    """A run watched (by itself or through its workflow) is told to its watchers by a task."""
    if Watch.objects.filter(project_id=execution.project_id, entity_type__in=[WORKFLOW, WORKFLOW_RUN]).exists():
        deliver_run.enqueue(execution.pk)


@receiver(post_save, sender=Subscription, dispatch_uid="notifications.rules.subscription_saved")
@receiver(post_delete, sender=Subscription, dispatch_uid="notifications.rules.subscription_deleted")
@receiver(post_save, sender=Preference, dispatch_uid="notifications.rules.preference_saved")
@receiver(post_delete, sender=Preference, dispatch_uid="notifications.rules.preference_deleted")
@receiver(post_save, sender=Watch, dispatch_uid="notifications.rules.watch_saved")
@receiver(post_delete, sender=Watch, dispatch_uid="notifications.rules.watch_deleted")
def on_rule_changed(sender, instance, **kwargs):
    forget_rules(instance.project_id)


# The delivery log keeps plain references (outbound cannot point at a subscription), so it is tidied here: a
# deleted subscription takes its log with it, a deleted project the log of all its notifications.
@receiver(post_delete, sender=Subscription, dispatch_uid="notifications.log.subscription_deleted")
def on_subscription_deleted(sender, instance, **kwargs):
    Delivery.objects.for_subscription(instance).delete()


@receiver(pre_delete, sender=Project, dispatch_uid="notifications.log.project_deleted")
def on_project_deleted(sender, instance, **kwargs):
    Delivery.objects.filter(project_id=instance.pk).delete()
