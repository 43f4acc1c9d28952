"""What the dashboard shows, computed with a handful of aggregate queries (no per-workflow query loop).

Workflows listed: every workflow with a finished run in the last 7 UTC days or any run in the last 24 hours, plus
every scheduled workflow. Week figures come from the daily rollup (workflow_daily_stats), kept as runs finish.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from lib.samples import Spread
from projects.charts import Bar, stacked_bars
from projects.durations import format_duration
from projects.models import Project

from .models import (
    AnomalyStatus,
    RunStatus,
    ScheduleAlert,
    WorkflowAnomaly,
    WorkflowDailyStats,
    WorkflowExecution,
    WorkflowSchedule,
)
from .models.rollup import histogram_percentile

TREND_DAYS = 7
DECIDED = [RunStatus.SUCCESS, RunStatus.FAILED]
WorkflowKey = tuple[int, str, str]  # (project_id, workflow_name, environment)


def rate(ok, total):
    return round(100.0 * ok / total, 1) if total else None


@dataclass
class WorkflowRow:
    project_id: int
    workflow_name: str
    environment: str
    project_name: str = ""
    last_status: str | None = None
    last_started_at: datetime | None = None
    last_error: str | None = None
    last_run_pk: int | None = None
    runs_24h: int = 0
    ok_24h: int = 0
    runs_7d: int = 0
    ok_7d: int = 0
    avg_ms: float | None = None
    p95_ms: float | None = None  # None below MIN_PERCENTILE_SAMPLES timed runs (see `spread`)
    max_ms: float | None = None
    timed_7d: int = 0
    days: list = field(default_factory=list)  # [(date, ok, failed)] oldest first
    schedule: WorkflowSchedule | None = None
    anomalies: list = field(default_factory=list)  # open findings (WorkflowAnomaly)
    anomaly_days: dict = field(default_factory=dict)  # {date: reason} of findings opened in the trend's days

    @property
    def spread(self) -> Spread:
        """The week's durations with the runs they rest on: a p95 only over enough runs (lib/samples.py)."""
        return run_spread(self.timed_7d, self.avg_ms, self.p95_ms, self.max_ms)

    @property
    def rate_24h(self):
        return rate(self.ok_24h, self.runs_24h)

    @property
    def rate_7d(self):
        return rate(self.ok_7d, self.runs_7d)

    @property
    def state(self):
        """failing / late / running / ok / idle: what a manager needs to look at first."""
        if self.last_status == RunStatus.FAILED:
            return "failing"
        if self.schedule is not None and self.schedule.alert_state == ScheduleAlert.LATE:
            return "late"
        if self.last_status == RunStatus.RUNNING:
            return "running"
        if self.last_status in (RunStatus.SUCCESS, RunStatus.CANCELLED):
            return "ok"
        return "idle"

    def trend_svg(self):
        """The 7-day sparkline: one bar per day, height by run count, failed part in red on top; a day on which an
        anomaly opened carries a mark."""
        bars = [
            Bar(f"{day:%b %d}: {ok} succeeded, {failed} failed", ok, failed,
                mark=f"{day:%b %d}: {self.anomaly_days[day]}" if day in self.anomaly_days else None)
            for day, ok, failed in self.days
        ]
        return stacked_bars(
            bars, width=len(bars) * 10, height=32, css_class="chart mon-spark", track=True, fixed_size=True,
            label=f"Runs per day over {len(bars)} days for {self.workflow_name}",
        )


def run_spread(timed, avg_ms, p95_ms, max_ms) -> Spread:
    return Spread.of(count=timed, average=avg_ms, p95=p95_ms, maximum=max_ms, noun=("timed run", "timed runs"),
                     formatter=format_duration)


def _durations(histogram, total_ms, timed, longest):
    """(average, p95, longest) of a workflow's runs from its daily rollup rows; p95 only over enough runs."""
    spread = run_spread(timed, total_ms / timed if timed else None, histogram_percentile(histogram, 0.95), longest)
    return spread.average, spread.p95, spread.maximum


def workflow_spread(project_id, workflow_name, environment, now=None, days=TREND_DAYS) -> Spread:
    """One workflow's durations over the last `days` UTC days, from its rollup rows (the run page)."""
    now = now or timezone.now()
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    histogram: dict[int, int] = {}
    total_ms, timed, longest = 0, 0, None
    for ms, count, day_histogram, day_longest in WorkflowDailyStats.objects.filter(
        project_id=project_id, workflow_name=workflow_name, environment=environment, day__gte=first
    ).values_list("total_duration_ms", "timed_runs", "duration_histogram", "max_duration_ms"):
        total_ms, timed = total_ms + ms, timed + count
        longest = max(longest or 0, day_longest) if day_longest is not None else longest
        for bucket, n in day_histogram.items():
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + n
    return run_spread(timed, *_durations(histogram, total_ms, timed, longest))


def workflow_overview(now=None, environment=None):
    """Every workflow (per project and environment); `environment` limits it to one."""
    now = now or timezone.now()
    day = now - timedelta(hours=24)
    today = now.astimezone(UTC).date()
    dates = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    runs = WorkflowExecution.objects.all()
    stats = WorkflowDailyStats.objects.filter(day__gte=dates[0])
    schedule_rows = WorkflowSchedule.objects.all()
    if environment:
        runs, stats = runs.filter(environment=environment), stats.filter(environment=environment)
        schedule_rows = schedule_rows.filter(environment=environment)

    # The last 7 UTC days from the daily rollup (≈ 7 rows per workflow): trend, 7-day rate, average, p95.
    rows: dict[WorkflowKey, WorkflowRow] = {}
    per_day: dict[tuple[int, str, str, date], tuple[int, int]] = {}
    histograms: dict[WorkflowKey, dict[int, int]] = {}
    timing: dict[WorkflowKey, list[Any]] = {}  # [summed ms, timed runs, longest ms or None]
    for pid, name, env, d, ok, failed, ms, timed, longest, histogram, last in stats.values_list(
        "project_id", "workflow_name", "environment", "day", "successful_runs", "failed_runs", "total_duration_ms",
        "timed_runs", "max_duration_ms", "duration_histogram", "last_started_at",
    ):
        key = (pid, name, env)
        row = rows.get(key) or rows.setdefault(key, WorkflowRow(*key))
        row.ok_7d += ok
        row.runs_7d += ok + failed
        per_day[(*key, d)] = (ok, failed)
        total = timing.setdefault(key, [0, 0, None])
        total[0] += ms
        total[1] += timed
        if longest is not None:
            total[2] = max(total[2] or 0, longest)
        merged = histograms.setdefault(key, {})
        for bucket, count in histogram.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + count
        if last and (row.last_started_at is None or last > row.last_started_at):
            row.last_started_at = last
    for key, row in rows.items():
        ms, timed, longest = timing[key]
        row.timed_7d = timed
        row.avg_ms, row.p95_ms, row.max_ms = _durations(histograms[key], ms, timed, longest)

    # The last 24 hours exactly, from the runs themselves (a seventh of the week; index range on started_at).
    for item in runs.since(day).values("project_id", "workflow_name", "environment").annotate(
        ok_24h=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        runs_24h=Count("id", filter=Q(status__in=DECIDED)),
        last=Max("started_at"),
    ).order_by():
        key = (item["project_id"], item["workflow_name"], item["environment"])
        row = rows.get(key) or rows.setdefault(key, WorkflowRow(*key))
        row.ok_24h, row.runs_24h = item["ok_24h"], item["runs_24h"]
        if row.last_started_at is None or item["last"] > row.last_started_at:
            row.last_started_at = item["last"]  # includes runs still running

    schedules = {(s.project_id, s.workflow_name, s.environment): s for s in schedule_rows}
    for key, schedule in schedules.items():
        rows.setdefault(key, WorkflowRow(*key)).schedule = schedule
    # Scheduled workflows that did not run this week: their last run from the per-workflow index.
    for key, row in rows.items():
        if row.last_started_at is None:
            row.last_started_at = runs.filter(
                project_id=key[0], workflow_name=key[1], environment=key[2]
            ).aggregate(m=Max("started_at"))["m"]

    # The last run of each workflow: one indexed lookup per (project, workflow, started_at) in a single query.
    # The last run of each workflow: runs started at one of the last-start moments (an index range on started_at),
    # matched to their workflow here; cheaper to build than one OR-ed condition per workflow.
    moments = {row.last_started_at for row in rows.values() if row.last_started_at is not None}
    if moments:
        for pk, pid, name, env, started, status, error in runs.filter(started_at__in=moments).order_by(
            "id"
        ).values_list("id", "project_id", "workflow_name", "environment", "started_at", "status", "error_message"):
            latest = rows.get((pid, name, env))
            if latest is not None and latest.last_started_at == started:
                latest.last_run_pk, latest.last_status, latest.last_error = pk, status, error

    findings = WorkflowAnomaly.objects.filter(Q(status=AnomalyStatus.OPEN) | Q(opened_at__date__gte=dates[0]))
    if environment:
        findings = findings.filter(environment=environment)
    for finding in findings.order_by("opened_at"):
        found = rows.get((finding.project_id, finding.workflow_name, finding.environment))
        if found is None:
            continue
        if finding.status == AnomalyStatus.OPEN:
            found.anomalies.append(finding)
        found.anomaly_days[finding.opened_at.astimezone(UTC).date()] = finding.reason

    names = dict(Project.objects.filter(id__in={k[0] for k in rows}).values_list("id", "name"))
    for key, row in rows.items():
        row.project_name = names.get(key[0], "?")
        row.days = [(d, *per_day.get((*key, d), (0, 0))) for d in dates]

    order = {"failing": 0, "late": 1, "running": 2, "ok": 3, "idle": 4}
    return sorted(rows.values(), key=lambda r: (order[r.state], r.workflow_name.lower(), r.project_name, r.environment))


def summary(workflows, undelivered, environment=None):
    from .models import HealthCheck

    checks = HealthCheck.objects.all()
    if environment:
        checks = checks.filter(environment=environment)
    return {
        "workflows": len(workflows),
        "failing": sum(1 for w in workflows if w.state == "failing"),
        "late": sum(1 for w in workflows if w.state == "late"),
        "unusual": sum(1 for w in workflows if w.anomalies),
        "checks_down": checks.down().count(),
        "checks": checks.count(),
        "undelivered": undelivered,
    }


def health_board(now=None, environment=None):
    """Each check (configuration, next due), its latest result and its 24-hour uptime."""
    from .models import CheckStatus, HealthCheck, SystemHealthCheck

    now = now or timezone.now()
    latest_pk = SystemHealthCheck.objects.filter(health_check=OuterRef("pk")).order_by("-checked_at", "-id")
    current = HealthCheck.objects.annotate(last_pk=Subquery(latest_pk.values("pk")[:1])).order_by("check_name", "check_id")
    if environment:
        current = current.filter(environment=environment)
    checks = list(current)
    day = SystemHealthCheck.objects.filter(health_check__in=checks, checked_at__gte=now - timedelta(hours=24))
    uptime = {
        item["health_check"]: item
        for item in day.values("health_check").annotate(
            total=Count("id"), healthy=Count("id", filter=Q(status=CheckStatus.HEALTHY)),
            avg_ms=Avg("response_time_ms"), last_checked_at=Max("checked_at"),
        ).order_by()
    }
    # Each check's latest result: one indexed lookup per check, then one fetch by pk.
    last_pks = [c.last_pk for c in checks if c.last_pk]
    latest = {r.health_check_id: r for r in SystemHealthCheck.objects.filter(pk__in=last_pks)}
    board = []
    for check in checks:
        stats: Mapping[str, Any] = uptime.get(check.pk, {})
        board.append({
            "current": check,
            "last": latest.get(check.pk),
            "uptime_24h": rate(stats.get("healthy", 0), stats.get("total", 0)),
            "avg_ms_24h": stats.get("avg_ms"),
            "results_24h": stats.get("total", 0),
        })
    board.sort(key=lambda b: (b["current"].alert_state != "FAILING", b["current"].check_name.lower()))
    return board


def needs_attention(now=None):
    """What a manager's Home shows: failing workflows, late schedules and health checks that are down."""
    from .models import HealthCheck

    workflows = workflow_overview(now)
    late = WorkflowSchedule.objects.filter(alert_state=ScheduleAlert.LATE).select_related("project").order_by("next_run_at")
    return {
        "failing": [w for w in workflows if w.state == "failing"],
        "late": list(late[:20]),
        "checks_down": list(HealthCheck.objects.down().order_by("check_name")[:20]),
    }


def change_token():
    """A short string that changes whenever something a dashboard shows may have changed: a run started or
    finished, a check ran, a check or schedule was edited, an anomaly opened or cleared. Index lookups only."""
    from django.db.models import Max
    from django.db.models.functions import Coalesce

    from .models import HealthCheck, NotificationLog, SystemHealthCheck

    parts = [
        WorkflowExecution.objects.aggregate(m=Max("updated_at"))["m"],
        SystemHealthCheck.objects.aggregate(m=Max("id"))["m"],
        HealthCheck.objects.aggregate(m=Max("updated_at"))["m"],
        WorkflowSchedule.objects.aggregate(m=Max("updated_at"))["m"],
        WorkflowAnomaly.objects.aggregate(m=Max(Coalesce("cleared_at", "opened_at")))["m"],
        NotificationLog.objects.aggregate(m=Max("id"))["m"],
    ]
    return "-".join(str(int(p.timestamp() * 1000)) if hasattr(p, "timestamp") else str(p or 0) for p in parts)
