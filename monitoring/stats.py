"""What the dashboard shows, computed with a handful of aggregate queries (no per-workflow query loop).

Workflows listed: every workflow with a finished run in the last 7 UTC days or any run in the last 24 hours, plus
every scheduled workflow. Week figures come from the daily rollup (workflow_daily_stats), kept as runs finish.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from projects.charts import Bar, stacked_bars
from projects.models import Project

from .models import RunStatus, ScheduleAlert, WorkflowDailyStats, WorkflowExecution, WorkflowSchedule
from .models.rollup import histogram_percentile

TREND_DAYS = 7
DECIDED = [RunStatus.SUCCESS, RunStatus.FAILED]


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
        """The 7-day sparkline: one bar per day, height by run count, failed part in red on top."""
        bars = [Bar(f"{day:%b %d}: {ok} succeeded, {failed} failed", ok, failed) for day, ok, failed in self.days]
        return stacked_bars(
            bars, width=len(bars) * 10, height=32, css_class="chart mon-spark", track=True, fixed_size=True,
            label=f"Runs per day over {len(bars)} days for {self.workflow_name}",
        )


def workflow_overview(now=None):
    now = now or timezone.now()
    day = now - timedelta(hours=24)
    today = now.astimezone(UTC).date()
    dates = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    runs = WorkflowExecution.objects

    # The last 7 UTC days from the daily rollup (≈ 7 rows per workflow): trend, 7-day rate, average, p95.
    rows, per_day, histograms, timing = {}, {}, {}, {}
    for pid, name, d, ok, failed, ms, timed, histogram, last in WorkflowDailyStats.objects.filter(
        day__gte=dates[0]
    ).values_list(
        "project_id", "workflow_name", "day", "successful_runs", "failed_runs", "total_duration_ms", "timed_runs",
        "duration_histogram", "last_started_at",
    ):
        key = (pid, name)
        row = rows.get(key) or rows.setdefault(key, WorkflowRow(*key))
        row.ok_7d += ok
        row.runs_7d += ok + failed
        per_day[(pid, name, d)] = (ok, failed)
        total = timing.setdefault(key, [0, 0])
        total[0] += ms
        total[1] += timed
        merged = histograms.setdefault(key, {})
        for bucket, count in histogram.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + count
        if last and (row.last_started_at is None or last > row.last_started_at):
            row.last_started_at = last
    for key, row in rows.items():
        ms, timed = timing[key]
        row.avg_ms = ms / timed if timed else None
        row.p95_ms = histogram_percentile(histograms[key], 0.95)

    # The last 24 hours exactly, from the runs themselves (a seventh of the week; index range on started_at).
    for item in runs.since(day).values("project_id", "workflow_name").annotate(
        ok_24h=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        runs_24h=Count("id", filter=Q(status__in=DECIDED)),
        last=Max("started_at"),
    ).order_by():
        key = (item["project_id"], item["workflow_name"])
        row = rows.get(key) or rows.setdefault(key, WorkflowRow(*key))
        row.ok_24h, row.runs_24h = item["ok_24h"], item["runs_24h"]
        if row.last_started_at is None or item["last"] > row.last_started_at:
            row.last_started_at = item["last"]  # includes runs still running

    schedules = {(s.project_id, s.workflow_name): s for s in WorkflowSchedule.objects.all()}
    for key, schedule in schedules.items():
        rows.setdefault(key, WorkflowRow(*key)).schedule = schedule
    # Scheduled workflows that did not run this week: their last run from the per-workflow index.
    for key, row in rows.items():
        if row.last_started_at is None:
            row.last_started_at = runs.filter(project_id=key[0], workflow_name=key[1]).aggregate(m=Max("started_at"))["m"]

    # The last run of each workflow: one indexed lookup per (project, workflow, started_at) in a single query.
    # The last run of each workflow: runs started at one of the last-start moments (an index range on started_at),
    # matched to their workflow here; cheaper to build than one OR-ed condition per workflow.
    moments = {row.last_started_at for row in rows.values() if row.last_started_at is not None}
    if moments:
        for pk, pid, name, started, status, error in runs.filter(started_at__in=moments).order_by("id").values_list(
            "id", "project_id", "workflow_name", "started_at", "status", "error_message"
        ):
            row = rows.get((pid, name))
            if row is not None and row.last_started_at == started:
                row.last_run_pk, row.last_status, row.last_error = pk, status, error

    names = dict(Project.objects.filter(id__in={k[0] for k in rows}).values_list("id", "name"))
    for (pid, name), row in rows.items():
        row.project_name = names.get(pid, "?")
        row.days = [(d, *per_day.get((pid, name, d), (0, 0))) for d in dates]

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
