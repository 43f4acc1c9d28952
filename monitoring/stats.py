"""What the dashboard shows, computed with a handful of aggregate queries (no per-workflow query loop).

Workflows listed: every workflow with a run in the last 7 days, plus every scheduled workflow.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from projects.models import Project

from .models import RunStatus, ScheduleAlert, WorkflowExecution, WorkflowSchedule

TREND_DAYS = 14
DECIDED = [RunStatus.SUCCESS, RunStatus.FAILED]


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(values, fraction):
    """Linear interpolation between closest ranks, as percentile_cont does (used where SQL lacks it)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def rate(ok, total):
    return round(100.0 * ok / total, 1) if total else None


@dataclass
class WorkflowRow:
    project_id: int
    workflow_name: str
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
    p95_ms: float | None = None
    days: list = field(default_factory=list)  # [(date, ok, failed)] oldest first
    schedule: WorkflowSchedule | None = None

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

    @property
    def trend(self):
        """Bars for the SVG sparkline: one per day, height by run count, failed part drawn on top."""
        width, height, gap = 10, 32, 2
        peak = max((ok + failed for _, ok, failed in self.days), default=0) or 1
        bars = []
        for i, (day, ok, failed) in enumerate(self.days):
            total = ok + failed
            h_total = round(height * total / peak, 1) if total else 0
            h_failed = round(h_total * failed / total, 1) if total else 0
            bars.append({
                "x": i * width, "w": width - gap, "day": day, "ok": ok, "failed": failed,
                "y_ok": height - h_total + h_failed, "h_ok": h_total - h_failed, "y_failed": height - h_total,
                "h_failed": h_failed,
            })
        return {"bars": bars, "width": len(self.days) * width, "height": height}


def workflow_overview(now=None):
    now = now or timezone.now()
    week, day = now - timedelta(days=7), now - timedelta(hours=24)
    today = timezone.localdate(now)
    trend_start = timezone.make_aware(datetime.combine(today - timedelta(days=TREND_DAYS - 1), time.min))
    runs = WorkflowExecution.objects
    is_pg = connection.vendor == "postgresql"

    week_stats = runs.since(week).values("project_id", "workflow_name").annotate(
        runs_7d=Count("id", filter=Q(status__in=DECIDED)),
        ok_7d=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        avg_ms=Avg("duration_ms"),
        last_started_at=Max("started_at"),
        **({"p95_ms": Percentile("duration_ms", 0.95)} if is_pg else {}),
    ).order_by()
    rows = {}
    for item in week_stats:
        key = (item["project_id"], item["workflow_name"])
        rows[key] = WorkflowRow(*key, **{k: v for k, v in item.items() if k not in ("project_id", "workflow_name")})

    for item in runs.since(day).values("project_id", "workflow_name").annotate(
        runs_24h=Count("id", filter=Q(status__in=DECIDED)), ok_24h=Count("id", filter=Q(status=RunStatus.SUCCESS))
    ).order_by():
        row = rows.get((item["project_id"], item["workflow_name"]))
        if row:
            row.runs_24h, row.ok_24h = item["runs_24h"], item["ok_24h"]

    if not is_pg:  # SQLite has no percentile aggregate: compute from the week's durations
        durations = {}
        for pid, name, ms in runs.since(week).exclude(duration_ms=None).values_list("project_id", "workflow_name", "duration_ms"):
            durations.setdefault((pid, name), []).append(ms)
        for key, row in rows.items():
            row.p95_ms = percentile(durations.get(key, []), 0.95)

    schedules = {(s.project_id, s.workflow_name): s for s in WorkflowSchedule.objects.all()}
    for key, schedule in schedules.items():
        rows.setdefault(key, WorkflowRow(*key)).schedule = schedule
    # Scheduled workflows that did not run this week: their last run from the per-workflow index.
    for key, row in rows.items():
        if row.last_started_at is None:
            row.last_started_at = runs.filter(project_id=key[0], workflow_name=key[1]).aggregate(m=Max("started_at"))["m"]

    # The last run of each workflow: one indexed lookup per (project, workflow, started_at) in a single query.
    lookups = Q()
    for (pid, name), row in rows.items():
        if row.last_started_at is not None:
            lookups |= Q(project_id=pid, workflow_name=name, started_at=row.last_started_at)
    if lookups:
        for pk, pid, name, status, error in runs.filter(lookups).order_by("id").values_list(
            "id", "project_id", "workflow_name", "status", "error_message"
        ):
            row = rows[(pid, name)]
            row.last_run_pk, row.last_status, row.last_error = pk, status, error

    daily = {}
    for item in runs.since(trend_start).annotate(day=TruncDate("started_at")).values(
        "project_id", "workflow_name", "day"
    ).annotate(ok=Count("id", filter=Q(status=RunStatus.SUCCESS)), failed=Count("id", filter=Q(status=RunStatus.FAILED))).order_by():
        daily[(item["project_id"], item["workflow_name"], item["day"])] = (item["ok"], item["failed"])
    dates = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    names = dict(Project.objects.filter(id__in={k[0] for k in rows}).values_list("id", "name"))
    for (pid, name), row in rows.items():
        row.project_name = names.get(pid, "?")
        row.days = [(d, *daily.get((pid, name, d), (0, 0))) for d in dates]

    order = {"failing": 0, "late": 1, "running": 2, "ok": 3, "idle": 4}
    return sorted(rows.values(), key=lambda r: (order[r.state], r.workflow_name.lower(), r.project_name))


def summary(workflows, checks, undelivered):
    return {
        "workflows": len(workflows),
        "failing": sum(1 for w in workflows if w.state == "failing"),
        "late": sum(1 for w in workflows if w.state == "late"),
        "checks_down": sum(1 for c in checks if c["current"].alert_state == "FAILING"),
        "checks": len(checks),
        "undelivered": undelivered,
    }


def health_board(now=None):
    """Each check's open row (configuration, next due), its latest result and its 24-hour uptime."""
    from .models import CheckStatus, SystemHealthCheck

    now = now or timezone.now()
    current = list(SystemHealthCheck.objects.open().order_by("check_name", "check_id"))
    ids = [c.check_id for c in current]
    day = SystemHealthCheck.objects.results().filter(check_id__in=ids, checked_at__gte=now - timedelta(hours=24))
    uptime = {
        item["check_id"]: item
        for item in day.values("check_id").annotate(
            total=Count("id"), healthy=Count("id", filter=Q(status=CheckStatus.HEALTHY)),
            avg_ms=Avg("response_time_ms"), last_checked_at=Max("checked_at"),
        ).order_by()
    }
    lookups = Q()
    for check_id, item in uptime.items():
        lookups |= Q(check_id=check_id, checked_at=item["last_checked_at"])
    latest = {}
    if lookups:
        latest = {r.check_id: r for r in SystemHealthCheck.objects.results().filter(lookups).order_by("id")}
    board = []
    for check in current:
        stats = uptime.get(check.check_id, {})
        board.append({
            "current": check,
            "last": latest.get(check.check_id),
            "uptime_24h": rate(stats.get("healthy", 0), stats.get("total", 0)),
            "avg_ms_24h": stats.get("avg_ms"),
            "results_24h": stats.get("total", 0),
        })
    board.sort(key=lambda b: (b["current"].alert_state != "FAILING", b["current"].check_name.lower()))
    return board
