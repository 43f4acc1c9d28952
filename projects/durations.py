"""How a duration reads, on every page and in every sentence: 850 ms, 12.3 s, 2 m 05 s, 1 h 02 m.

The activity feed, event pages, insights and the monitoring pages all call `format_duration` (templates through
the `duration` filter of monitoring_tags), so the same 86,044 ms never reads two ways. A sentence in a message
("…, 4 min after it started") rounds with `about`: notifications and monitoring alerts both say it this way.
"""


def format_duration(ms) -> str:
    """Milliseconds as a person reads them; "—" when there is none."""
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


def about(ms) -> str:
    """A duration as said in a sentence: "40 s", "4 min", "2 h 5 min"."""
    seconds = int(round((ms or 0) / 1000))
    if seconds < 60:
        return f"{seconds} s"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
