"""Which subscriptions and members an event or action concerns, and the stable JSON payload sent for it.

Matching runs in Python over rows loaded once per batch: a project has a handful of rules, a batch up to 1,000
rows, and one query for each is cheaper than one filtered query per rule.
"""

from django.db.models import Q

from events.models.activity import CATEGORY_OF_TYPE, ActionStatus, ActivityEvent, EventStatus, ProjectAction

from .models import Level, Mode, Preference, Source, Subscription, Watch
from .watching import ACTIVITY_EVENT

EVENT_COLUMNS = ("id", "event_type", "entity_type", "entity_id", "title", "description", "status", "duration",
                 "external_id", "metadata", "created_at", "user__username")
ACTION_COLUMNS = ("action_id", "action_type", "action_details", "status", "environment", "request_id",
                  "created_at", "user__username")


def load_events(ids):
    return list(ActivityEvent.objects.filter(pk__in=ids).order_by("id").values(*EVENT_COLUMNS))


def load_actions(ids):
    return list(ProjectAction.objects.filter(pk__in=ids).order_by("created_at", "action_id").values(*ACTION_COLUMNS))


def is_failure(source, row) -> bool:
    return row["status"] == (EventStatus.FAILED if source == Source.EVENT else ActionStatus.FAILED)


def subscription_matches(subscription: Subscription, source: str, row: dict) -> bool:
    if source == Source.EVENT:
        if not subscription.match_events:
            return False
        if subscription.event_types and row["event_type"] not in subscription.event_types:
            return False
        if subscription.category and CATEGORY_OF_TYPE.get(row["event_type"]) != subscription.category:
            return False
        if subscription.event_status and row["status"] != subscription.event_status:
            return False
        if subscription.entity_type and row["entity_type"] != subscription.entity_type:
            return False
        if subscription.text_contains:
            needle = subscription.text_contains.casefold()
            if needle not in f"{row['title']}\n{row['description'] or ''}".casefold():
                return False
        return True
    if not subscription.match_actions:
        return False
    if subscription.action_type and row["action_type"] != subscription.action_type:
        return False
    if subscription.action_status and row["status"] != subscription.action_status:
        return False
    return not (subscription.environment and row["environment"] != subscription.environment)


def events_query(subscription: Subscription):
    """The same rule as a queryset filter on ActivityEvent (digests count a window with it)."""
    condition = Q()
    if subscription.event_types:
        condition &= Q(event_type__in=subscription.event_types)
    if subscription.category:
        condition &= Q(event_type__in=[t for t, c in CATEGORY_OF_TYPE.items() if c == subscription.category])
    if subscription.event_status:
        condition &= Q(status=subscription.event_status)
    if subscription.entity_type:
        condition &= Q(entity_type=subscription.entity_type)
    if subscription.text_contains:
        condition &= Q(title__icontains=subscription.text_contains) | Q(description__icontains=subscription.text_contains)
    return condition


def actions_query(subscription: Subscription):
    condition = Q()
    if subscription.action_type:
        condition &= Q(action_type=subscription.action_type)
    if subscription.action_status:
        condition &= Q(status=subscription.action_status)
    if subscription.environment:
        condition &= Q(environment=subscription.environment)
    return condition


def interested_members(project, source, row, preferences, watches, *, mode=Mode.IMMEDIATE):
    """User ids to tell about `row` now (mode immediate) or in their digest: by level, or by watching its entity."""
    users = set()
    for preference in preferences:
        if preference.mode != mode:
            continue
        if preference.level == Level.EVERYTHING or (preference.level == Level.FAILURES and is_failure(source, row)):
            users.add(preference.user_id)
    if source == Source.EVENT:
        # The event's entity, or (for an event that names none) the event itself.
        watched = {(ACTIVITY_EVENT, str(row["id"]))}
        if row.get("entity_id"):
            watched.add((row["entity_type"], row["entity_id"]))
        digest_users = {p.user_id for p in preferences if p.mode != Mode.IMMEDIATE}
        for watch in watches:
            if (watch.entity_type, watch.entity_id) in watched and (
                (watch.user_id in digest_users) == (mode != Mode.IMMEDIATE)
            ):
                users.add(watch.user_id)
    return users


def member_rules(project):
    """The project's personal rules, once per batch: preferences that say something, and entity watches."""
    preferences = list(Preference.objects.filter(project=project).exclude(level=Level.OFF, mode=Mode.IMMEDIATE))
    watches = list(Watch.objects.filter(project=project))
    return preferences, watches


def _json_safe(row):
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def project_ref(project):
    return {"slug": project.slug, "name": project.name}


def event_type(source, row):
    """The envelope's `type`: activity.<status> or audit.<status> (README "Notifications")."""
    if source == Source.EVENT:
        return "activity." + row["status"].lower()
    return "audit." + row["status"]


def payload(project, source, row):
    """The webhook envelope's `data` (a stable schema; README "Notifications"): the project and the event or action."""
    data = _json_safe({k.replace("user__username", "user"): v for k, v in row.items()})
    if source == Source.EVENT:
        data["category"] = CATEGORY_OF_TYPE.get(row["event_type"], "")
        return {"project": project_ref(project), "event": data}
    return {"project": project_ref(project), "action": data}
