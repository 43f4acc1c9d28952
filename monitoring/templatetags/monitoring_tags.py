from django import template

from projects.durations import format_duration

register = template.Library()


duration = register.filter("duration", format_duration)  # the one duration format (projects/durations.py)


@register.filter
def ago(moment, now=None):
    """A compact relative time ("5 min ago", "in 3 h"): cheaper than humanize's naturaltime on 100-row tables."""
    from django.utils import timezone

    if moment is None:
        return "—"
    seconds = ((now or timezone.now()) - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return "now"


@register.filter
def percent(value):
    """A rate as "97.5%" (pre-formatted: localising floats per cell is measurable on the overview)."""
    return "—" if value is None else f"{value:.1f}%"


@register.filter
def can_open_monitoring(user):
    """The navigation shows Monitoring only to those monitoring/access.py lets in (cached: monitoring.access)."""
    from monitoring.access import shows_monitoring_link

    return shows_monitoring_link(user)
