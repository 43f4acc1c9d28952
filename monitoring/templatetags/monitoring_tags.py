from django import template

register = template.Library()


@register.filter
def duration(ms):
    """Milliseconds as a person reads them: 850 ms, 12.3 s, 2 m 05 s, 1 h 02 m."""
    if ms is None or ms == "":
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} m {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


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
    """The navigation shows Monitoring only to those monitoring/access.py lets in."""
    from monitoring.access import is_manager

    return is_manager(user)
