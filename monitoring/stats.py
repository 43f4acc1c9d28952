"""What the dashboard shows, computed with a handful of aggregate queries (no per-workflow query loop).

Workflows listed: every workflow with a run in the last 7 days, plus every scheduled workflow.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from projects.models import Project

from .models import RunStatus, ScheduleAlert, WorkflowExecution, WorkflowSchedule

TREND_DAYS = 7
DECIDED = [RunStatus.SUCCESS, RunStatus.FAILED]


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"
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
    def badge(self):
        return {"failing": "badge-bad", "late": "badge-warn", "running": "badge-info", "ok": "badge-ok"}.get(self.state, "")

    def trend_svg(self):
        """The 7-day sparkline as SVG markup: one bar per day, height by run count, failed part in red on top.
        Built here rather than in the template: 100 workflows × 7–14 bars of template tags cost ~200 ms to render."""
        width, height, gap = 10, 32, 2
        peak = max((ok + failed for _, ok, failed in self.days), default=0) or 1
        parts = [
            f'<svg class="chart mon-spark" width="{len(self.days) * width}" height="{height}" '
            f'viewBox="0 0 {len(self.days) * width} {height}" role="img" '
            f'aria-label="Runs per day over {len(self.days)} days for {escape(self.workflow_name)}">'
        ]
        for i, (day, ok, failed) in enumerate(self.days):
            x, total = i * width, ok + failed
            h_total = round(height * total / peak, 1)
            h_failed = round(h_total * failed / total, 1) if total else 0
            parts.append(f'<g><title>{day:%b %d}: {ok} succeeded, {failed} failed</title>'
                         f'<rect class="mon-bar-bg" x="{x}" y="0" width="{width - gap}" height="{height}"></rect>')
            if total - failed:
                parts.append(f'<rect class="mon-bar-ok" x="{x}" y="{height - h_total + h_failed}" '
                             f'width="{width - gap}" height="{h_total - h_failed}"></rect>')
            if failed:
                parts.append(f'<rect class="mon-bar-failed" x="{x}" y="{height - h_total}" '
                             f'width="{width - gap}" height="{h_failed}"></rect>')
            parts.append("</g>")
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - numbers, dates and the escaped workflow name only


def workflow_overview(now=None):
    now = now or timezone.now()
    week, day = now - timedelta(days=7), now - timedelta(hours=24)
    today = timezone.localdate(now)
    trend_start = timezone.make_aware(datetime.combine(today - timedelta(days=TREND_DAYS - 1), time.min))
    runs = WorkflowExecution.objects
    is_pg = connection.vendor == "postgresql"

    # One pass over the last 7 days, grouped by workflow only, gives everything: per-day counts for the trend as
    # FILTERed counts, 24-hour and 7-day rates, average and p95, the last start. (Grouping by day as well made
    # PostgreSQL misestimate the groups and sort on disk; a 14-day trend doubled the rows read for little.)
    dates = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    starts = [timezone.make_aware(datetime.combine(d, time.min)) for d in dates] + [None]
    per_day = {}
    for i, day_start in enumerate(starts[:-1]):
        window = Q(started_at__gte=day_start) & (Q(started_at__lt=starts[i + 1]) if starts[i + 1] else Q())
        per_day[f"ok_{i}"] = Count("id", filter=window & Q(status=RunStatus.SUCCESS))
        per_day[f"failed_{i}"] = Count("id", filter=window & Q(status=RunStatus.FAILED))
    in_week = Q(started_at__gte=week)
    extra = {"p95_ms": Percentile("duration_ms", 0.95)} if is_pg else {}
    rows = {}
    for item in runs.since(min(week, trend_start)).values("project_id", "workflow_name").annotate(
        ok_7d=Count("id", filter=in_week & Q(status=RunStatus.SUCCESS)),
        runs_7d=Count("id", filter=in_week & Q(status__in=DECIDED)),
        ok_24h=Count("id", filter=Q(started_at__gte=day, status=RunStatus.SUCCESS)),
        runs_24h=Count("id", filter=Q(started_at__gte=day, status__in=DECIDED)),
        avg_ms=Avg("duration_ms", filter=in_week),
        last_started_at=Max("started_at"),
        **extra,
        **per_day,
    ).order_by():
        key = (item.pop("project_id"), item.pop("workflow_name"))
        days = [(d, item.pop(f"ok_{i}"), item.pop(f"failed_{i}")) for i, d in enumerate(dates)]
        rows[key] = WorkflowRow(*key, days=days, **item)

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

    names = dict(Project.objects.filter(id__in={k[0] for k in rows}).values_list("id", "name"))
    for (pid, _name), row in rows.items():
        row.project_name = names.get(pid, "?")
        if not row.days:  # scheduled, no run in the trend window
            row.days = [(d, 0, 0) for d in dates]

    order = {"failing": 0, "late": 1, "running": 2, "ok": 3, "idle": 4}
    return sorted(rows.values(), key=lambda r: (order[r.state], r.workflow_name.lower(), r.project_name))


def summary(workflows, undelivered):
    from .models import CheckAlert, SystemHealthCheck

    checks = SystemHealthCheck.objects.open()
    return {
        "workflows": len(workflows),
        "failing": sum(1 for w in workflows if w.state == "failing"),
        "late": sum(1 for w in workflows if w.state == "late"),
        "checks_down": checks.filter(alert_state=CheckAlert.FAILING).count(),
        "checks": checks.count(),
        "undelivered": undelivered,
    }


def health_board(now=None):
    """Each check's open row (configuration, next due), its latest result and its 24-hour uptime."""
    from .models import CheckStatus, SystemHealthCheck

    now = now or timezone.now()
    latest_pk = SystemHealthCheck.objects.results().filter(check_id=OuterRef("check_id")).order_by("-checked_at", "-id")
    current = list(
        SystemHealthCheck.objects.open().annotate(last_pk=Subquery(latest_pk.values("pk")[:1])).order_by("check_name", "check_id")
    )
    ids = [c.check_id for c in current]
    day = SystemHealthCheck.objects.results().filter(check_id__in=ids, checked_at__gte=now - timedelta(hours=24))
    uptime = {
        item["check_id"]: item
        for item in day.values("check_id").annotate(
            total=Count("id"), healthy=Count("id", filter=Q(status=CheckStatus.HEALTHY)),
            avg_ms=Avg("response_time_ms"), last_checked_at=Max("checked_at"),
        ).order_by()
    }
    # Each check's latest result: one indexed lookup per check (check_id, -checked_at), then one fetch by pk.
    last_pks = [c.last_pk for c in current if c.last_pk]
    latest = {r.check_id: r for r in SystemHealthCheck.objects.filter(pk__in=last_pks)}
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
