"""The one status → colour map, and the one badge every page shows a status with.

    {% status_badge run.status run.get_status_display %}   # a builtin tag (activityhub/settings.py TEMPLATES)
    badge_class("RUNNING")                                  # "badge-warn status-running"

Words from every table (events COMPLETED, runs SUCCESS, actions success, checks HEALTHY, deliveries succeeded…)
map to four colours: ok (green), bad (red), warn (yellow: running, late, paused, cancelled) and info (blue:
queued, waiting). Running is yellow everywhere (it was blue in monitoring and yellow in events).
"""

from django import template
from django.utils.html import format_html

OK, BAD, WARN, INFO = "badge-ok", "badge-bad", "badge-warn", "badge-info"
RUNNING = "badge-warn status-running"

STATUS_CLASS: dict[str, str] = {
    # done well
    "completed": OK, "success": OK, "succeeded": OK, "healthy": OK, "sent": OK, "ok": OK, "enabled": OK,
    "delivered": OK,
    # went wrong
    "failed": BAD, "unhealthy": BAD, "gave_up": BAD, "failing": BAD, "down": BAD, "disabled": BAD,
    # under way
    "in_progress": RUNNING, "running": RUNNING,
    # needs a look
    "late": WARN, "cancelled": WARN, "paused": WARN,
    # waiting its turn
    "pending": INFO, "sending": INFO, "queued": INFO,
}


def badge_class(status) -> str:
    """The colour class of a status word from any table, in any letter case; '' for a word it does not know."""
    return STATUS_CLASS.get(str(status or "").lower(), "")


def badge_html(status, label=None):
    classes = " ".join(filter(None, ["badge", badge_class(status)]))
    return format_html('<span class="{}">{}</span>', classes, label if label not in (None, "") else (status or "—"))


register = template.Library()


@register.simple_tag(name="status_badge")
def status_badge(status, label=None):
    """`{% status_badge event.status event.get_status_display %}`: the status as a coloured badge."""
    return badge_html(status, label)
