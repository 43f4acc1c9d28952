"""Hourly and daily digests: one plain-words summary of the window that just ended, per subscription and member.

The sentences come from events.insights (action_summaries, counts_by_status), as on the Insights page. A window
with nothing to report sends nothing. The Delivery's source_id is the window, so a digest goes out once.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from events.insights import action_summaries, counts_by_status
from events.models.activity import ActivityEvent, EventStatus, ProjectAction
from outbound import engine
from projects.models import Project

from . import matching
from .models import Level, Mode, Preference, Source, Subscription, Watch
from .sending import store

LENGTH = {Mode.HOURLY: timedelta(hours=1), Mode.DAILY: timedelta(days=1)}
PERIOD_WORDS = {Mode.HOURLY: "in the last hour", Mode.DAILY: "in the last day"}
LISTED_FAILURES = 10


def window(mode, now):
    """The last whole hour or day (UTC) before `now`: [start, end)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    if mode == Mode.DAILY:
        end = end.replace(hour=0)
    return end - LENGTH[mode], end


def summarize(project, mode, events, actions):
    """(sentences, counts) for a window's events and actions querysets; no sentences when nothing happened."""
    period = PERIOD_WORDS[mode]
    sentences = action_summaries(actions, period=period) if actions is not None else []
    counts = counts_by_status(events) if events is not None else {}
    total = sum(counts.values())
    if total:
        sentences.append(
            f"{total} {'event' if total == 1 else 'events'} {period}: {counts.get(EventStatus.COMPLETED, 0)} completed, "
            f"{counts.get(EventStatus.FAILED, 0)} failed, {counts.get(EventStatus.IN_PROGRESS, 0)} in progress."
        )
        failures = list(events.filter(status=EventStatus.FAILED).order_by("-created_at", "-id")
                        .values_list("title", flat=True)[:LISTED_FAILURES])
        sentences += [f"Failed: {title}" for title in failures]
    return sentences, {k: int(v) for k, v in counts.items()}


def _send(project, mode, start, end, sentences, counts, **destination):
    source_id = f"{mode}:{start:%Y-%m-%dT%H:%M}"
    payload = {
        "project": matching.project_ref(project),
        "digest": {"window_start": start.isoformat(), "window_end": end.isoformat(), "event_counts": counts,
                   "summary": sentences},
    }
    subject = f"[{project.name}] {'Hourly' if mode == Mode.HOURLY else 'Daily'} summary, {start:%Y-%m-%d %H:%M} UTC"
    stored = store(project, Source.DIGEST, source_id, event_type=f"digest.{mode}", payload=payload, subject=subject,
                   text="\n".join(sentences), **destination)
    return engine.send_now([stored.pk], now=end) if stored else None


def send_digests(mode, *, now=None) -> dict:
    now = now or timezone.now()
    start, end = window(mode, now)
    sent = {"subscriptions": 0, "members": 0}
    for subscription in Subscription.objects.active().filter(mode=mode).select_related("project"):
        project = subscription.project
        events = actions = None
        in_window = Q(created_at__gte=start, created_at__lt=end)
        if subscription.match_events:
            events = ActivityEvent.objects.for_project(project).filter(in_window, matching.events_query(subscription))
        if subscription.match_actions:
            actions = ProjectAction.objects.filter(project=project).filter(in_window, matching.actions_query(subscription))
        sentences, counts = summarize(project, mode, events, actions)
        if sentences and _send(project, mode, start, end, sentences, counts, subscription=subscription):
            sent["subscriptions"] += 1
    for preference in Preference.objects.filter(mode=mode).select_related("project", "user"):
        events = _member_events(preference, start, end)
        if events is None:
            continue
        sentences, counts = summarize(preference.project, mode, events, None)
        if sentences and _send(preference.project, mode, start, end, sentences, counts, recipient_id=preference.user_id):
            sent["members"] += 1
    return sent


def _member_events(preference, start, end):
    """The window's events this member follows: by level, or by watching their entity; None if nothing."""
    project: Project = preference.project
    condition = Q(pk__in=[])
    if preference.level == Level.EVERYTHING:
        condition = Q()
    elif preference.level == Level.FAILURES:
        condition = Q(status=EventStatus.FAILED)
    for entity_type, entity_id in Watch.objects.filter(user=preference.user_id, project=project).values_list(
        "entity_type", "entity_id"
    ):
        condition |= Q(entity_type=entity_type, entity_id=entity_id)
    if condition == Q(pk__in=[]):
        return None
    return ActivityEvent.objects.for_project(project).filter(condition, created_at__gte=start, created_at__lt=end)
