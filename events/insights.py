"""Insights over a bounded window of a project's activity (also served by the HTTP API).

    data = project_insights(project, days=30)
    data.by_type, data.by_status, data.by_day, data.durations, data.failure_rate, data.summaries

The window is bounded (7, 30 or 90 days; 30 by default) so the work is a range of the (project, created_at, id)
index however old the project is (an index-only scan on PostgreSQL): one GROUP BY (day, status) feeds the chart,
status and failure figures, and one GROUP BY type counts and computes average and p95 duration (PERCENTILE_CONT).
`project_insights` also takes a filtered queryset (the API narrows it with the feed's filters).
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from django.db import connection
from django.db.models import Avg, Count, FloatField
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncDate

from projects.durations import format_duration

from .models.activity import (
    ActionStatus,
    ActionType,
    ActivityEvent,
    EventStatus,
    EventType,
    ProjectAction,
    start_of_day,
)

WINDOWS = (7, 30, 90)
DEFAULT_WINDOW = 30


class Percentile(Aggregate):
    """PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expr): PostgreSQL's ordered-set aggregate."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass
class DurationStat:
    event_type: str
    label: str
    count: int
    avg_ms: float | None
    p95_ms: float | None


@dataclass
class DayCount:
    day: date
    total: int
    failed: int


@dataclass
class Insights:
    days: int
    since: object
    total: int
    by_type: list = field(default_factory=list)  # [(event_type, label, count)], largest first
    by_status: dict = field(default_factory=dict)  # {status: count} for all three statuses
    by_day: list = field(default_factory=list)  # [DayCount] for every day in the window, oldest first
    durations: list = field(default_factory=list)  # [DurationStat], slowest p95 first
    failure_rate: float | None = None  # failed / finished (completed + failed), None when nothing finished
    summaries: list = field(default_factory=list)  # plain-language sentences

    def as_dict(self):
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["by_day"] = [{"day": d.day.isoformat(), "total": d.total, "failed": d.failed} for d in self.by_day]
        data["by_type"] = [{"event_type": t, "label": label, "count": n} for t, label, n in self.by_type]
        return data


def _label(event_type):
    try:
        return EventType(event_type).label
    except ValueError:
        return event_type


def window_start(days, now=None):
    """Midnight `days - 1` days ago: the window covers today and the days before it."""
    return start_of_day(now) - timedelta(days=days - 1)


# ----- the queries project_insights and Home run -----


def counts_by_status(queryset):
    """{status: count}, every status present (0 when none)."""
    counts = dict(queryset.order_by().values_list("status").annotate(n=Count("id")))
    return {s: counts.get(s, 0) for s in EventStatus.values}


def type_figures(queryset):
    """By type, in one query: ([(event_type, label, count)] largest first, [DurationStat] slowest p95 first).

    Durations are those of the events that have one (PERCENTILE_CONT and AVG skip NULLs on PostgreSQL).
    """
    events = queryset.order_by()
    if connection.vendor == "postgresql":
        rows = list(events.values_list("event_type").annotate(
            n=Count("id"), timed=Count("duration"), avg=Avg("duration"), p95=Percentile("duration", 0.95)
        ))
        counts = [(t, n) for t, n, *_ in rows]
        stats = [DurationStat(t, _label(t), timed, float(avg), float(p95)) for t, _, timed, avg, p95 in rows if timed]
    else:
        # SQLite has no percentile aggregate; its databases are small (demo, tests), so compute in Python.
        per_type, tally = defaultdict(list), Counter()
        for event_type, duration in events.values_list("event_type", "duration").iterator():
            tally[event_type] += 1
            if duration is not None:
                per_type[event_type].append(duration)
        counts = tally.items()
        stats = [
            DurationStat(t, _label(t), len(v), sum(v) / len(v), _percentile(sorted(v), 0.95))
            for t, v in per_type.items()
        ]
    by_type = sorted(((t, _label(t), n) for t, n in counts), key=lambda r: (-r[2], r[0]))
    return by_type, sorted(stats, key=lambda s: (-(s.p95_ms or 0), s.event_type))


def _percentile(sorted_values, fraction):
    """Linear interpolation, the same definition as PostgreSQL's percentile_cont."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


# ----- plain-language summaries -----

# What one action of each type is, in words (singular, plural). Counts come from the rows, never from their text.
ACTION_NOUNS = {
    ActionType.PROJECT_CREATED: ("project created", "projects created"),
    ActionType.DATABASE_CREATED: ("database created", "databases created"),
    ActionType.ENDPOINTS_ADDED: ("endpoint addition", "endpoint additions"),
    ActionType.ENDPOINTS_MODIFIED: ("endpoint change", "endpoint changes"),
    ActionType.TABLES_ADDED: ("table addition", "table additions"),
    ActionType.QUERIES_EXECUTED: ("query run", "query runs"),
    ActionType.DEPLOYMENT: ("deployment", "deployments"),
    ActionType.GITHUB_PUSH: ("GitHub push", "GitHub pushes"),
    # Recorded by the app's own flows (events.receivers, the API-keys card).
    "member_added": ("member added", "members added"),
    "member_removed": ("member removed", "members removed"),
    "member_role_changed": ("role change", "role changes"),
    "api_key_created": ("API key created", "API keys created"),
    "api_key_revoked": ("API key revoked", "API keys revoked"),
}


def _plural(n, one, many):
    return f"{n} {one if n == 1 else many}"


def _action_nouns(action_type):
    if action_type in ACTION_NOUNS:
        return ACTION_NOUNS[action_type]
    name = action_type.replace("_", " ")
    return (f"“{name}” action", f"“{name}” actions")  # a type the app does not know: still a counted sentence


def action_summaries(actions_queryset, period="today"):
    """Sentences such as "1 member added today." or "3 deployments today (1 failed)." (one query)."""
    rows = actions_queryset.order_by().values_list("action_type", "status").annotate(n=Count("action_id"))
    counts, failed, running = Counter(), Counter(), Counter()
    for action_type, status, n in rows:
        counts[action_type] += n
        if status == ActionStatus.FAILED:
            failed[action_type] += n
        elif status == ActionStatus.IN_PROGRESS:
            running[action_type] += n
    sentences = []
    for action_type, total in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        one, many = _action_nouns(action_type)
        text = f"{_plural(total, one, many)} {period}"
        notes = [f"{failed[action_type]} failed"] if failed[action_type] else []
        if running[action_type]:
            notes.append(f"{running[action_type]} still in progress")
        if notes:
            text += f" ({', '.join(notes)})"
        sentences.append(f"{text[0].upper()}{text[1:]}.")
    return sentences


def event_summaries(insights):
    sentences = []
    status = insights.by_status
    if insights.total:
        sentences.append(
            f"{_plural(insights.total, 'event', 'events')} in the last {insights.days} days; "
            f"{_plural(status[EventStatus.FAILED], 'failure', 'failures')}."
        )
    if status.get(EventStatus.IN_PROGRESS):
        sentences.append(f"{_plural(status[EventStatus.IN_PROGRESS], 'event is', 'events are')} still in progress.")
    if insights.failure_rate is not None:
        sentences.append(f"{insights.failure_rate:.1%} of finished events failed.")
    if insights.durations:
        slowest = insights.durations[0]
        sentences.append(
            f"{slowest.label} is the slowest step: {format_duration(slowest.avg_ms)} on average, "
            f"{format_duration(slowest.p95_ms)} at p95."
        )
    return sentences


def summaries(project, *, now=None):
    """Today's audit actions in words, then today's events."""
    today = start_of_day(now)
    sentences = action_summaries(ProjectAction.objects.for_project(project).since(today))
    events_today = counts_by_status(ActivityEvent.objects.for_project(project).since(today))
    total = sum(events_today.values())
    if total:
        sentences.append(
            f"{_plural(total, 'event', 'events')} today: {events_today[EventStatus.COMPLETED]} completed, "
            f"{events_today[EventStatus.FAILED]} failed, {events_today[EventStatus.IN_PROGRESS]} in progress."
        )
    return sentences


# ----- everything for the Insights page -----


def project_insights(project, days=DEFAULT_WINDOW, *, now=None, queryset=None):
    """All insight figures for the last `days` days of `project` (or of `queryset`, e.g. a filtered one)."""
    if days not in WINDOWS:
        raise ValueError(f"days must be one of {', '.join(map(str, WINDOWS))}")
    since = window_start(days, now)
    events = (queryset if queryset is not None else ActivityEvent.objects.for_project(project)).since(since)
    # Two aggregates over one index range: (day, status) for the chart, status and failure figures, then per type.
    rows = events.order_by().annotate(day=TruncDate("created_at")).values_list("day", "status").annotate(n=Count("id"))
    by_status, totals, failed = Counter(), Counter(), Counter()
    for day, status, n in rows:
        by_status[status] += n
        totals[day] += n
        if status == EventStatus.FAILED:
            failed[day] += n
    by_type, durations = type_figures(events)
    first = since.date()
    finished = by_status[EventStatus.COMPLETED] + by_status[EventStatus.FAILED]
    insights = Insights(
        days=days,
        since=since,
        total=sum(by_status.values()),
        by_type=by_type,
        by_status={s: by_status.get(s, 0) for s in EventStatus.values},
        by_day=[DayCount(d, totals[d], failed[d]) for d in (first + timedelta(days=i) for i in range(days))],
        durations=durations,
        failure_rate=by_status[EventStatus.FAILED] / finished if finished else None,
    )
    insights.summaries = summaries(project, now=now) + event_summaries(insights)
    return insights


def today_counts(projects):
    """{status: count} of today's events across several projects (Home)."""
    return counts_by_status(ActivityEvent.objects.for_projects(projects).today())


__all__ = [
    "DEFAULT_WINDOW",
    "WINDOWS",
    "DayCount",
    "DurationStat",
    "Insights",
    "Percentile",
    "action_summaries",
    "counts_by_status",
    "type_figures",
    "project_insights",
    "summaries",
    "today_counts",
    "window_start",
]
