"""Changes the events app makes to a project's state, each recorded in the audit trail (projects/audit.py).

Activity events, conversations and message events are the project's data, written by events/ingest.py; the audit
trail itself is written by events/audit.py."""

from django.db import transaction
from django.db.models import Count

from projects.audit import record
from projects.models import Project

from .ingest import ingest_actions
from .models.feeds import FeedToken
from .models.messages import MessageEvent
from .quality import reset_rollup_watermark


def reset_feed_token(project, user) -> FeedToken:
    """A member's feed token is replaced: every feed URL they handed out stops working."""
    with transaction.atomic():
        token = FeedToken.objects.reset(user)
        record(project, "feed_token_reset", target=("feed_token", user.get_username()),
               details=f"{user.get_username()} reset their feed link: the old Atom and JSON feed URLs no longer work")
    return token


def report_actions(project, items):
    """Actions an integration reports (POST /api/v1/actions): stored as reported by the key, never as witnessed."""
    return ingest_actions(project, items)


def clear_message_events(project=None) -> dict[str, int]:
    """A clean slate for answer feedback (manage.py clean_slate_message_events): every message event of `project`
    (of every project when None) is deleted, each project's loss recorded with its counts; conversations, messages
    and bookmarks stay. Returns the counts by event type; the caller recomputes chunk performance after."""
    events = MessageEvent.objects.all() if project is None else MessageEvent.objects.for_project(project)
    rows = (events.order_by().values_list("conversation__project", "event_type")
            .annotate(n=Count("id")).values_list("conversation__project", "event_type", "n"))
    by_project: dict[int, dict[str, int]] = {}
    for project_id, event_type, n in rows:
        by_project.setdefault(project_id, {})[event_type] = n
    with transaction.atomic():
        events.delete()
        reset_rollup_watermark()
        for each in Project.objects.filter(pk__in=by_project):
            counts = by_project[each.pk]
            kinds = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))
            record(each, "message_events_cleared", target=("project", each.slug),
                   details=f"{sum(counts.values()):,} answer feedback events removed ({kinds}); conversations, "
                           "messages and bookmarks are kept", before=counts, after={})
    totals: dict[str, int] = {}
    for counts in by_project.values():
        for kind, n in counts.items():
            totals[kind] = totals.get(kind, 0) + n
    return totals
