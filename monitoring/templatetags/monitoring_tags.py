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
