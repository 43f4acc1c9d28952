"""Reading a workflow's history for anomaly detection (monitoring/anomalies.py judges it): grouped SQL aggregates
over index ranges of started_at and the daily rollup, so a pass reads a few thousand rows, never the runs themselves.
"""

import math
from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, F, FloatField, IntegerField, Q
from django.db.models.functions import Cast, ExtractHour, ExtractWeekDay, Floor, Greatest, Ln
from django.utils import timezone

from .models import RunStatus, WorkflowDailyStats, WorkflowExecution
from .models.rollup import HISTOGRAM_BASE_MS, HISTOGRAM_GROWTH

BASELINE_DAYS = 28
RECENT_HOURS = 24


def _bucket_expression():
    # Same buckets as models.rollup.bucket_of: floor(ln(max(ms, 100) / 100) / ln(1.1)).
    ratio = Cast(Greatest(F("duration_ms"), HISTOGRAM_BASE_MS), FloatField()) / float(HISTOGRAM_BASE_MS)
    return Floor(Ln(ratio) / math.log(HISTOGRAM_GROWTH))


def _hour_windows(now, hours):
    """One-hour ranges [h:00, h+1:00) local time on each day of the baseline window, for each hour of day in `hours`."""
    local = timezone.localtime(now)
    windows = []
    for k in range(BASELINE_DAYS + 1):
        day = local.date() - timedelta(days=k)
        for hour in hours:
            start = datetime.combine(day, time(hour), tzinfo=local.tzinfo)
            if start < now and start + timedelta(hours=1) > now - timedelta(days=BASELINE_DAYS):
                windows.append((start, start + timedelta(hours=1)))
    return windows


MAX_BASELINE_HOURS = 6  # latest runs spread over more hours of day than this: read the whole window instead


def duration_baselines(now, latest=None):
    """{workflow key: {(weekday, hour): {bucket: count}}} for successful runs of the baseline window, read only at
    the hours of day the latest runs (`latest`, as from latest_finished_runs) started in: the slots judged."""
    runs = WorkflowExecution.objects.filter(
        status=RunStatus.SUCCESS, duration_ms__isnull=False,
        started_at__gte=now - timedelta(days=BASELINE_DAYS), started_at__lt=now,
    )
    hours = {timezone.localtime(run.started_at).hour for run in (latest or {}).values()}
    if latest is not None and len(hours) <= MAX_BASELINE_HOURS:
        if not hours:
            return {}
        ranges = Q()
        for start, end in _hour_windows(now, sorted(hours)):
            ranges |= Q(started_at__gte=start, started_at__lt=end)
        runs = runs.filter(ranges)
    rows = (
        runs.annotate(
            weekday=Cast(ExtractWeekDay("started_at"), IntegerField()),
            hour=Cast(ExtractHour("started_at"), IntegerField()),
            bucket=Cast(_bucket_expression(), IntegerField()),
        )
        .values("project_id", "workflow_name", "environment", "weekday", "hour", "bucket")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("project_id", "workflow_name", "environment", "weekday", "hour", "bucket", "n")
    )
    baselines: dict = {}
    for pid, name, env, weekday, hour, bucket, n in rows:
        slots = baselines.setdefault((pid, name, env), {})
        histogram = slots.setdefault((weekday, hour), {})
        histogram[bucket] = histogram.get(bucket, 0) + n
    return baselines


def whole_window_histograms(now, keys):
    """{workflow key: {bucket: count}} of every timed run of the baseline window, from the daily rollup: the
    coarsest baseline, for workflows whose hour of day has too few runs (failed runs' durations included)."""
    histograms: dict = {}
    if not keys:
        return histograms
    rows = WorkflowDailyStats.objects.filter(
        day__gte=(now - timedelta(days=BASELINE_DAYS)).date(), day__lte=now.date(),
        workflow_name__in={key[1] for key in keys},
    ).values_list("project_id", "workflow_name", "environment", "duration_histogram")
    for pid, name, env, histogram in rows:
        if (pid, name, env) in keys:
            merged = histograms.setdefault((pid, name, env), {})
            for bucket, count in histogram.items():
                merged[int(bucket)] = merged.get(int(bucket), 0) + count
    return histograms


def daily_history(now):
    """{workflow key: {day: (successful, failed, cancelled, last_started_at)}} from the daily rollup, for the days of
    the baseline window: the failure rate's and the 24-hour volume's baselines, and each workflow's latest run."""
    history: dict = {}
    rows = WorkflowDailyStats.objects.filter(
        day__gte=(now - timedelta(days=BASELINE_DAYS + 1)).date(), day__lte=now.date()
    ).values_list("project_id", "workflow_name", "environment", "day", "successful_runs", "failed_runs",
                  "cancelled_runs", "last_started_at")
    for pid, name, env, day, ok, failed, cancelled, last in rows:
        history.setdefault((pid, name, env), {})[day] = (ok, failed, cancelled, last)
    return history


def latest_finished_runs(now, history=None):
    """The latest finished run of each workflow (through the rollup's last_started_at, then one indexed fetch)."""
    history = daily_history(now) if history is None else history
    moments: dict[datetime, None] = {}  # an ordered set of start times
    for days in history.values():
        cutoff = (now - timedelta(days=BASELINE_DAYS)).date()
        last = max((d[3] for day, d in days.items() if day >= cutoff and d[3]), default=None)
        if last and last <= now:
            moments[last] = None
    latest: dict = {}
    if not moments:
        return latest
    for run in WorkflowExecution.objects.filter(started_at__in=list(moments)).finished().order_by("id"):
        key = (run.project_id, run.workflow_name, run.environment)
        if key not in latest or run.started_at >= latest[key].started_at:
            latest[key] = run
    return latest


# Volume windows: the last hour, or for a workflow too sparse for that the last 24 h; the baseline is the same
# window ending at the same wall-clock time on each of the past BASELINE_DAYS days.
HOUR, DAY = "hour", "24 h"
VOLUME_WINDOWS = [HOUR, DAY]
WEEKLY_SAMPLES = [7, 14, 21, 28]  # the same hour of the week, one to four weeks back


def _window_end(now, days_back):
    local = timezone.localtime(now)
    return (local - timedelta(days=days_back)).astimezone(UTC) if days_back else now


def recent_counts(now):
    """One row per workflow with runs in the last RECENT_HOURS or in one of the hour-long volume windows: its
    recent failures and decided runs, its runs in the last 24 h, and its runs in each hour window (k days back).
    One grouped query over index ranges of started_at: a day and 28 hours of runs, never the whole history."""
    recent = now - timedelta(hours=RECENT_HOURS)
    hours = {k: (_window_end(now, k) - timedelta(hours=1), _window_end(now, k)) for k in range(BASELINE_DAYS + 1)}
    ranges = Q(started_at__gte=recent, started_at__lt=now)
    for start, end in hours.values():
        ranges |= Q(started_at__gte=start, started_at__lt=end)
    decided = Q(status__in=[RunStatus.SUCCESS, RunStatus.FAILED])
    rows = (
        WorkflowExecution.objects.filter(ranges)
        .values("project_id", "workflow_name", "environment")
        .annotate(
            recent_failed=Count("id", filter=Q(started_at__gte=recent, status=RunStatus.FAILED)),
            recent_decided=Count("id", filter=Q(started_at__gte=recent) & decided),
            recent_runs=Count("id", filter=Q(started_at__gte=recent)),
            **{f"hour_{k}": Count("id", filter=Q(started_at__gte=start, started_at__lt=end))
               for k, (start, end) in hours.items()},
        )
        .order_by()
    )
    return {(r["project_id"], r["workflow_name"], r["environment"]): r for r in rows}, hours


def failure_baseline(days: dict, now) -> tuple[int, int]:
    """(failed, decided) runs of the whole days of the baseline window before the recent one."""
    first, last = (now - timedelta(days=BASELINE_DAYS)).date(), (now - timedelta(hours=RECENT_HOURS)).date()
    failed = sum(d[1] for day, d in days.items() if first < day < last)
    return failed, failed + sum(d[0] for day, d in days.items() if first < day < last)


def volume_windows(now, hours: dict) -> list[tuple]:
    """For each past day k: (k, the day its hour window starts on, and the two rollup days its 24-hour window spans
    with the share of the later one), computed once per pass."""
    windows = []
    for k in range(1, BASELINE_DAYS + 1):
        end = _window_end(now, k).astimezone(UTC)
        day = end.date()
        share = (end - datetime.combine(day, time(), tzinfo=UTC)) / timedelta(days=1)
        windows.append((k, hours[k][0].date(), day - timedelta(days=1), day, share))
    return windows


def volume_history(days: dict, counts: dict | None, windows: list, now) -> dict:
    """{(window, k): runs} for k = 0 (the recent window) and each past day the workflow existed on. A past 24-hour
    window spans two rollup days: its count is their totals weighted by the share of each it covers."""
    counts = counts or {}
    first_day = min(days) if days else now.date()
    volume = {(HOUR, 0): counts.get("hour_0", 0), (DAY, 0): counts.get("recent_runs", 0)}
    recent_day = (now - timedelta(hours=RECENT_HOURS)).date()
    totals = {day: d[0] + d[1] + d[2] for day, d in days.items()}
    for k, hour_day, previous, day, share in windows:
        if hour_day > first_day:
            volume[(HOUR, k)] = counts.get(f"hour_{k}", 0)
        if previous > first_day and day < recent_day:
            volume[(DAY, k)] = (1 - share) * totals.get(previous, 0) + share * totals.get(day, 0)
    return volume
