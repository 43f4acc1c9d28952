"""Insights over a bounded window of a project's activity (also served by the HTTP API).

    data = project_insights(project, days=30)
    data.by_type, data.by_status, data.by_day, data.durations, data.failure_rate, data.summaries
    data.previous                                  # the same figures for the window just before, to compare

The window is bounded (7, 30 or 90 days; 30 by default) so the work is a range of the (project, created_at, id)
index however old the project is (an index-only scan on PostgreSQL): one GROUP BY (day, status) feeds the chart,
status and failure figures, one GROUP BY type counts and computes average, p95 (PERCENTILE_CONT) and longest
duration, and one GROUP BY (type, status) over the previous window of the same length gives the comparison.
`project_insights` also takes a filtered queryset (the API narrows it with the feed's filters).

Honest numbers (lib/samples.py): a p95 is given only over MIN_PERCENTILE_SAMPLES timed events of a type, below
that the count and the longest; a "slowest step" is named only among types with that many; every count is said
beside the previous period's.
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Avg, Count, FloatField, Max
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncDate
from django.utils import timezone

from lib.samples import MIN_PERCENTILE_SAMPLES, Spread, enough_for_percentile
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
    """Durations of one event type. `p95_ms` is None below MIN_PERCENTILE_SAMPLES timed events (see `spread`)."""

    event_type: str
    label: str
    count: int
    avg_ms: float | None
    p95_ms: float | None
    max_ms: float | None = None

    def __post_init__(self):
        if not enough_for_percentile(self.count):
            self.p95_ms = None

    @property
    def spread(self) -> Spread:
        return Spread.of(count=self.count, average=self.avg_ms, p95=self.p95_ms, maximum=self.max_ms,
                         noun=("timed event", "timed events"), formatter=format_duration)


@dataclass
class DayCount:
    day: date
    total: int
    failed: int


@dataclass
class Period:
    """The window just before the one shown, as long as it: what each count is compared with."""

    since: datetime
    until: datetime
    total: int = 0
    by_status: dict = field(default_factory=dict)
    by_type: dict = field(default_factory=dict)  # {event_type: count}
    failure_rate: float | None = None

    @property
    def finished(self):
        return self.by_status.get(EventStatus.COMPLETED, 0) + self.by_status.get(EventStatus.FAILED, 0)


@dataclass
class Insights:
    days: int
    since: datetime
    total: int
    by_type: list = field(default_factory=list)  # [(event_type, label, count)], largest first
    by_status: dict = field(default_factory=dict)  # {status: count} for all three statuses
    by_day: list = field(default_factory=list)  # [DayCount] for every day in the window, oldest first
    durations: list = field(default_factory=list)  # [DurationStat], slowest p95 first
    failure_rate: float | None = None  # failed / finished (completed + failed), None when nothing finished
    summaries: list = field(default_factory=list)  # plain-language sentences
    previous: Period | None = None

    @property
    def finished(self):
        return self.by_status.get(EventStatus.COMPLETED, 0) + self.by_status.get(EventStatus.FAILED, 0)

    def as_dict(self):
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["by_day"] = [{"day": d.day.isoformat(), "total": d.total, "failed": d.failed} for d in self.by_day]
        data["by_type"] = [{"event_type": t, "label": label, "count": n} for t, label, n in self.by_type]
        data["percentile_min_samples"] = MIN_PERCENTILE_SAMPLES
        if self.previous is not None:
            data["previous"] = {**asdict(self.previous), "since": self.previous.since.isoformat(),
                                "until": self.previous.until.isoformat()}
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
    """By type, in one query: ([(event_type, label, count)] largest first, [DurationStat] slowest first).

    Durations are those of the events that have one (PERCENTILE_CONT, AVG and MAX skip NULLs on PostgreSQL).
    Slowest first: the types with a p95 (enough samples) by p95, then the others by their longest.
    """
    events = queryset.order_by()
    if connection.vendor == "postgresql":
        rows = list(events.values_list("event_type").annotate(
            n=Count("id"), timed=Count("duration"), avg=Avg("duration"), p95=Percentile("duration", 0.95),
            longest=Max("duration"),
        ))
        counts = [(t, n) for t, n, *_ in rows]
        stats = [DurationStat(t, _label(t), timed, float(avg), float(p95), float(longest))
                 for t, _, timed, avg, p95, longest in rows if timed]
    else:
        # SQLite has no percentile aggregate; its databases are small (demo, tests), so compute in Python.
        per_type: defaultdict[str, list[int]] = defaultdict(list)
        tally: Counter[str] = Counter()
        for event_type, duration in events.values_list("event_type", "duration").iterator():
            tally[event_type] += 1
            if duration is not None:
                per_type[event_type].append(duration)
        counts = list(tally.items())
        stats = [
            DurationStat(t, _label(t), len(v), sum(v) / len(v), _percentile(sorted(v), 0.95), float(max(v)))
            for t, v in per_type.items()
        ]
    by_type = sorted(((t, _label(t), n) for t, n in counts), key=lambda r: (-r[2], r[0]))
    return by_type, sorted(stats, key=lambda s: (s.p95_ms is None, -(s.p95_ms or s.max_ms or 0), s.event_type))


def previous_period(queryset, since, until):
    """Counts by status and by type over [since, until), in one GROUP BY (type, status)."""
    period = Period(since=since, until=until)
    by_status: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for event_type, status, n in (
        queryset.since(since).before(until).order_by().values_list("event_type", "status").annotate(n=Count("id"))
    ):
        by_status[status] += n
        by_type[event_type] += n
    period.by_status = {s: by_status.get(s, 0) for s in EventStatus.values}
    period.by_type = dict(by_type)
    period.total = sum(by_status.values())
    finished = period.finished
    period.failure_rate = by_status[EventStatus.FAILED] / finished if finished else None
    return period


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
    return f"{n:,} {one if n == 1 else many}"


def compared(now_count, before_count, before_words):
    """', up from 3 yesterday' / ', the same as yesterday' / ', down from 5 yesterday' / ', none yesterday'."""
    if before_count == now_count:
        return f", the same as {before_words}"
    if not before_count:
        return f", none {before_words}"
    direction = "up" if now_count > before_count else "down"
    return f", {direction} from {before_count:,} {before_words}"


def change_words(now_count, before_count):
    """A short change for a table cell: '▲ 50%', '▼ 3', 'new', '='."""
    if now_count == before_count:
        return "same"
    if not before_count:
        return "new"
    change = (now_count - before_count) / before_count
    return f"{'▲' if change > 0 else '▼'} {abs(change):.0%}"


def _action_nouns(action_type):
    if action_type in ACTION_NOUNS:
        return ACTION_NOUNS[action_type]
    name = action_type.replace("_", " ")
    return (f"“{name}” action", f"“{name}” actions")  # a type the app does not know: still a counted sentence


def _action_counts(actions_queryset):
    rows = actions_queryset.order_by().values_list("action_type", "status").annotate(n=Count("action_id"))
    counts: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    running: Counter[str] = Counter()
    for action_type, status, n in rows:
        counts[action_type] += n
        if status == ActionStatus.FAILED:
            failed[action_type] += n
        elif status == ActionStatus.IN_PROGRESS:
            running[action_type] += n
    return counts, failed, running


def action_summaries(actions_queryset, period="today", previous=None, previous_words="yesterday"):
    """Sentences such as "1 member added today." or "3 deployments today (1 failed)." (one query); with
    `previous` (the same kind of queryset over the period before) each says how that compares:
    "2 endpoint additions today, up from 1 by this time yesterday." and a type seen only before says so too."""
    counts, failed, running = _action_counts(actions_queryset)
    before = _action_counts(previous)[0] if previous is not None else None
    sentences = []
    for action_type, total in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        one, many = _action_nouns(action_type)
        text = f"{_plural(total, one, many)} {period}"
        notes = [f"{failed[action_type]} failed"] if failed[action_type] else []
        if running[action_type]:
            notes.append(f"{running[action_type]} still in progress")
        if notes:
            text += f" ({', '.join(notes)})"
        if before is not None:
            text += compared(total, before.get(action_type, 0), previous_words)
        sentences.append(f"{text[0].upper()}{text[1:]}.")
    if before is not None:
        for action_type, total in sorted(before.items(), key=lambda kv: (-kv[1], kv[0])):
            if action_type not in counts:
                sentences.append(f"No {_action_nouns(action_type)[1]} {period}; {total:,} {previous_words}.")
    return sentences


def _window_words(days):
    return f"the {days} days before"


def event_summaries(insights):
    sentences = []
    status = insights.by_status
    previous = insights.previous
    if insights.total or (previous and previous.total):
        text = (f"{_plural(insights.total, 'event', 'events')} in the last {insights.days} days"
                + (compared(insights.total, previous.total, f"in {_window_words(insights.days)}") if previous else "")
                + f"; {_plural(status.get(EventStatus.FAILED, 0), 'failure', 'failures')}.")
        sentences.append(text)
    if status.get(EventStatus.IN_PROGRESS):
        sentences.append(f"{_plural(status[EventStatus.IN_PROGRESS], 'event is', 'events are')} still in progress.")
    if insights.failure_rate is not None:
        text = (f"{insights.failure_rate:.1%} of {_plural(insights.finished, 'finished event', 'finished events')} "
                "failed")
        if previous is not None and previous.failure_rate is not None:
            text += f", against {previous.failure_rate:.1%} of {previous.finished:,} in {_window_words(insights.days)}"
        sentences.append(text + ".")
    slowest = next((d for d in insights.durations if d.p95_ms is not None), None)
    if slowest is not None:
        sentences.append(
            f"{slowest.label} is the slowest step: p95 {format_duration(slowest.p95_ms)} from "
            f"{_plural(slowest.count, 'timed event', 'timed events')}, {format_duration(slowest.avg_ms)} on average."
        )
    elif insights.durations:
        most = max(insights.durations, key=lambda d: d.count)
        sentences.append(
            f"Too few timed events to name a slowest step: it takes {MIN_PERCENTILE_SAMPLES} of one type, and the "
            f"most is {most.count:,} ({most.label})."
        )
    return sentences


def summaries(project, *, now=None):
    """Today's audit actions and events in words, each beside yesterday's by the same time of day."""
    now = now or timezone.now()
    today = start_of_day(now)
    yesterday, same_time_yesterday = today - timedelta(days=1), now - timedelta(days=1)
    actions = ProjectAction.objects.for_project(project)
    sentences = action_summaries(actions.since(today), previous=actions.since(yesterday).before(same_time_yesterday),
                                 previous_words="by this time yesterday")
    events = ActivityEvent.objects.for_project(project)
    events_today = counts_by_status(events.since(today))
    total = sum(events_today.values())
    before = events.since(yesterday).before(same_time_yesterday).count()
    if total:
        sentences.append(
            f"{_plural(total, 'event', 'events')} today{compared(total, before, 'by this time yesterday')}: "
            f"{events_today[EventStatus.COMPLETED]:,} completed, {events_today[EventStatus.FAILED]:,} failed, "
            f"{events_today[EventStatus.IN_PROGRESS]:,} in progress."
        )
    elif before:
        sentences.append(f"No events yet today; {before:,} by this time yesterday.")
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
    by_status: Counter[str] = Counter()
    totals: Counter[date] = Counter()
    failed: Counter[date] = Counter()
    for day, status, n in rows:
        by_status[status] += n
        totals[day] += n
        if status == EventStatus.FAILED:
            failed[day] += n
    by_type, durations = type_figures(events)
    first = since.date()
    finished = by_status[EventStatus.COMPLETED] + by_status[EventStatus.FAILED]
    base = queryset if queryset is not None else ActivityEvent.objects.for_project(project)
    insights = Insights(
        days=days,
        since=since,
        total=sum(by_status.values()),
        by_type=by_type,
        by_status={s: by_status.get(s, 0) for s in EventStatus.values},
        by_day=[DayCount(d, totals[d], failed[d]) for d in (first + timedelta(days=i) for i in range(days))],
        durations=durations,
        failure_rate=by_status[EventStatus.FAILED] / finished if finished else None,
        previous=previous_period(base, since - timedelta(days=days), since),
    )
    insights.summaries = summaries(project, now=now) + event_summaries(insights)
    return insights


def page_rows(insights):
    """What the Insights page's tables show: each count beside the previous window's, each duration with its
    sample size (a p95 only over enough samples)."""
    previous = insights.previous or Period(since=insights.since, until=insights.since)  # an empty window
    return {
        "type_rows": [
            {"type": t, "label": label, "count": n, "previous": previous.by_type.get(t, 0),
             "change": change_words(n, previous.by_type.get(t, 0))}
            for t, label, n in insights.by_type
        ],
        "gone_types": sorted(
            ((t, _label(t), n) for t, n in previous.by_type.items() if t not in {r[0] for r in insights.by_type}),
            key=lambda r: (-r[2], r[0]),
        ),
        "duration_rows": [{"label": d.label, "spread": d.spread} for d in insights.durations],
        "status_rows": [
            (EventStatus(s).label, s, n, previous.by_status.get(s, 0), change_words(n, previous.by_status.get(s, 0)))
            for s, n in insights.by_status.items()
        ],
        "total_change": change_words(insights.total, previous.total),
    }


def today_counts(projects):
    """{status: count} of today's events across several projects (Home)."""
    return counts_by_status(ActivityEvent.objects.for_projects(projects).today())


__all__ = [
    "DEFAULT_WINDOW",
    "WINDOWS",
    "DayCount",
    "DurationStat",
    "Insights",
    "Period",
    "Percentile",
    "action_summaries",
    "change_words",
    "compared",
    "counts_by_status",
    "page_rows",
    "previous_period",
    "type_figures",
    "project_insights",
    "summaries",
    "today_counts",
    "window_start",
]
