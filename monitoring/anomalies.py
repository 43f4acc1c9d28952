"""Anomaly detection per workflow, from its own history (no external service).

Duration: the latest finished run against the successful runs of the last BASELINE_DAYS, on a log scale (the
rollup's 10 %-wide buckets): robust z = (bucket − median) / (1.4826 × MAD). The baseline is the runs at the same
hour of the week when there are enough of them, else the same hour of the day, else all runs (seasonality where the
history supports it). Failure rate: failures in the last RECENT_HOURS against the rate of the days before
(binomial z-score). Both are computed from grouped SQL aggregates: one row per workflow, hour of week and duration
bucket, and one row per workflow with four counts, so a pass reads thousands of rows, never the runs themselves.

A finding opens once (unique while open), alerts once through notify.enqueue, and clears itself (with one
"back to normal" notification) when the behaviour is normal again. Sensitivity per workflow: off / low / normal /
high (WorkflowAnomalySettings). Volume (far fewer or more runs than usual) is not detected yet.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, FloatField, IntegerField, Max, Q
from django.db.models.functions import Cast, ExtractHour, ExtractWeekDay, Floor, Greatest, Ln
from django.utils import timezone

from .models import (
    AnomalyKind,
    AnomalyStatus,
    NotificationType,
    RunStatus,
    Sensitivity,
    WorkflowAnomaly,
    WorkflowAnomalySettings,
    WorkflowDailyStats,
    WorkflowExecution,
)
from .models.rollup import HISTOGRAM_BASE_MS, HISTOGRAM_GROWTH, bucket_of, histogram_percentile
from .notify import enqueue

BASELINE_DAYS = 28
RECENT_HOURS = 24
MIN_BASELINE_RUNS = 8  # fewer runs in a seasonal slot than this: use the coarser slot
MIN_FAILURES = 3  # a rate spike needs at least this many failures in the recent window
MIN_RATE_BASELINE = 20

# Robust z-score a finding needs, per sensitivity (duration; failure rate).
THRESHOLDS = {
    Sensitivity.LOW: (8.0, 6.0),
    Sensitivity.NORMAL: (5.0, 4.0),
    Sensitivity.HIGH: (3.5, 3.0),
}
MAD_SCALE = 1.4826  # MAD × this estimates a normal distribution's standard deviation
MIN_MAD_BUCKETS = 1.0  # one bucket (10 %) at least: a perfectly steady history is not infinitely sensitive


def _duration_words(ms):
    from .templatetags.monitoring_tags import duration

    return duration(ms)


@dataclass
class Verdict:
    anomalous: bool
    score: float
    reason: str
    observed: float
    low: float | None = None
    high: float | None = None


def _weighted_median(counts: dict) -> float:
    total = sum(counts.values())
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen * 2 >= total:
            return value
    return 0.0  # pragma: no cover - counts is never empty here


def judge_duration(histogram: dict, duration_ms: int, threshold: float) -> Verdict | None:
    """A run's duration against a histogram of usual ones ({bucket: count}); None when history is too short."""
    if sum(histogram.values()) < MIN_BASELINE_RUNS:
        return None
    median = _weighted_median(histogram)
    deviations: dict = {}
    for bucket, count in histogram.items():
        deviations[abs(bucket - median)] = deviations.get(abs(bucket - median), 0) + count
    mad = max(_weighted_median(deviations), MIN_MAD_BUCKETS)
    score = (bucket_of(duration_ms) - median) / (MAD_SCALE * mad)
    low, high = histogram_percentile(histogram, 0.1), histogram_percentile(histogram, 0.9)
    usual = f"usually {_duration_words(low)}–{_duration_words(high)}"
    return Verdict(abs(score) >= threshold, score, f"took {_duration_words(duration_ms)}, {usual}", duration_ms,
                   low, high)


def judge_failure_rate(recent_failed, recent_decided, base_failed, base_decided, threshold) -> Verdict | None:
    if base_decided < MIN_RATE_BASELINE or recent_decided == 0:
        return None
    usual = (base_failed + 1) / (base_decided + 2)  # smoothed: a spotless history still has a rate
    usual = min(max(usual, 0.01), 0.99)
    expected = recent_decided * usual
    score = (recent_failed - expected) / math.sqrt(recent_decided * usual * (1 - usual))
    reason = (f"{recent_failed} of {recent_decided} runs failed in the last {RECENT_HOURS} h, "
              f"usually {100 * base_failed / base_decided:.0f} %")
    return Verdict(recent_failed >= MIN_FAILURES and score >= threshold, score, reason,
                   recent_failed / recent_decided, 0.0, usual)


def _sensitivities():
    return {(s.project_id, s.workflow_name, s.environment): s.sensitivity
            for s in WorkflowAnomalySettings.objects.all()}


def _bucket_expression():
    # Same buckets as models.rollup.bucket_of: floor(ln(max(ms, 100) / 100) / ln(1.1)).
    ratio = Cast(Greatest(F("duration_ms"), HISTOGRAM_BASE_MS), FloatField()) / float(HISTOGRAM_BASE_MS)
    return Floor(Ln(ratio) / math.log(HISTOGRAM_GROWTH))


def duration_baselines(now):
    """{workflow key: {(weekday, hour): {bucket: count}}} for successful runs of the baseline window."""
    rows = (
        WorkflowExecution.objects.filter(
            status=RunStatus.SUCCESS, duration_ms__isnull=False,
            started_at__gte=now - timedelta(days=BASELINE_DAYS), started_at__lt=now,
        )
        .annotate(
            weekday=Cast(ExtractWeekDay("started_at"), IntegerField()),
            hour=Cast(ExtractHour("started_at"), IntegerField()),
            bucket=Cast(_bucket_expression(), IntegerField()),
        )
        .values("project_id", "workflow_name", "environment", "weekday", "hour", "bucket")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("project_id", "workflow_name", "environment", "weekday", "hour", "bucket", "n")
    )
    baselines = {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # ~100 workflows × 168 hours × a few buckets: let the aggregate hash in memory instead of sorting on disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        for pid, name, env, weekday, hour, bucket, n in rows:
            slots = baselines.setdefault((pid, name, env), {})
            histogram = slots.setdefault((weekday, hour), {})
            histogram[bucket] = histogram.get(bucket, 0) + n
    return baselines


def seasonal_histogram(slots: dict, weekday: int, hour: int, leave_out: int | None = None) -> dict:
    """The finest baseline with enough runs: same hour of week, same hour of day, or all (minus the run judged)."""

    def merged(keys):
        out = {}
        for key in keys:
            for bucket, count in slots.get(key, {}).items():
                out[bucket] = out.get(bucket, 0) + count
        if leave_out is not None and out.get(leave_out):
            out[leave_out] -= 1
        return {b: c for b, c in out.items() if c}

    for keys in ([(weekday, hour)], [k for k in slots if k[1] == hour], list(slots)):
        histogram = merged(keys)
        if sum(histogram.values()) >= MIN_BASELINE_RUNS:
            return histogram
    return merged(list(slots))


def latest_finished_runs(now):
    """The latest finished run of each workflow (through the rollup's last_started_at, then one indexed fetch)."""
    last = (
        WorkflowDailyStats.objects.filter(day__gte=(now - timedelta(days=BASELINE_DAYS)).date())
        .values("project_id", "workflow_name", "environment").annotate(last=Max("last_started_at")).order_by()
    )
    moments = {row["last"]: None for row in last if row["last"] and row["last"] <= now}
    latest = {}
    if not moments:
        return latest
    for run in WorkflowExecution.objects.filter(started_at__in=list(moments)).finished().order_by("id"):
        key = (run.project_id, run.workflow_name, run.environment)
        if key not in latest or run.started_at >= latest[key].started_at:
            latest[key] = run
    return latest


def failure_counts(now):
    recent = now - timedelta(hours=RECENT_HOURS)
    decided = [RunStatus.SUCCESS, RunStatus.FAILED]
    rows = (
        WorkflowExecution.objects.filter(
            status__in=decided, started_at__gte=now - timedelta(days=BASELINE_DAYS), started_at__lt=now
        )
        .values("project_id", "workflow_name", "environment")
        .annotate(
            recent_failed=Count("id", filter=Q(started_at__gte=recent, status=RunStatus.FAILED)),
            recent_decided=Count("id", filter=Q(started_at__gte=recent)),
            base_failed=Count("id", filter=Q(started_at__lt=recent, status=RunStatus.FAILED)),
            base_decided=Count("id", filter=Q(started_at__lt=recent)),
        )
        .order_by()
    )
    return {(r["project_id"], r["workflow_name"], r["environment"]): r for r in rows}


def detect(now=None):
    """One detection pass: returns {"opened": n, "cleared": n}."""
    now = now or timezone.now()
    sensitivity = _sensitivities()
    open_findings = {(a.project_id, a.workflow_name, a.environment, a.kind): a for a in WorkflowAnomaly.objects.open()}
    verdicts = {}

    baselines = duration_baselines(now)
    for key, run in latest_finished_runs(now).items():
        level = sensitivity.get(key, Sensitivity.NORMAL)
        if level == Sensitivity.OFF or run.status != RunStatus.SUCCESS or run.duration_ms is None:
            continue
        started = timezone.localtime(run.started_at)  # the zone ExtractWeekDay/ExtractHour use
        weekday = (started.isoweekday() % 7) + 1  # Django's ExtractWeekDay: Sunday = 1 … Saturday = 7
        histogram = seasonal_histogram(baselines.get(key, {}), weekday, started.hour, leave_out=bucket_of(run.duration_ms))
        verdict = judge_duration(histogram, run.duration_ms, THRESHOLDS[level][0])
        if verdict is not None:
            verdicts[(*key, AnomalyKind.DURATION)] = (verdict, run)

    for key, counts in failure_counts(now).items():
        level = sensitivity.get(key, Sensitivity.NORMAL)
        if level == Sensitivity.OFF:
            continue
        verdict = judge_failure_rate(counts["recent_failed"], counts["recent_decided"], counts["base_failed"],
                                     counts["base_decided"], THRESHOLDS[level][1])
        if verdict is not None:
            verdicts[(*key, AnomalyKind.FAILURE_RATE)] = (verdict, None)

    opened = cleared = 0
    for key, (verdict, run) in verdicts.items():
        finding = open_findings.pop(key, None)
        if verdict.anomalous and finding is None:
            opened += _open(key, verdict, run, now)
        elif not verdict.anomalous and finding is not None and _back_to_normal(verdict, key[3], sensitivity, key):
            cleared += _clear(finding, verdict, now)
    # Open findings with nothing to judge any more (no recent runs, sensitivity off): behaviour left the window.
    for key, finding in open_findings.items():
        if sensitivity.get(key[:3]) == Sensitivity.OFF or key[3] == AnomalyKind.FAILURE_RATE:
            cleared += _clear(finding, None, now)
    return {"opened": opened, "cleared": cleared}


def _back_to_normal(verdict, kind, sensitivity, key):
    # Hysteresis for rates: clear well inside the threshold, so a rate hovering at it does not flap.
    if kind == AnomalyKind.FAILURE_RATE:
        return verdict.score < THRESHOLDS[sensitivity.get(key[:3], Sensitivity.NORMAL)][1] / 2
    return True


def _open(key, verdict, run, now):
    project_id, name, environment, kind = key
    try:
        with transaction.atomic():
            finding = WorkflowAnomaly.objects.create(
                project_id=project_id, workflow_name=name, environment=environment, kind=kind,
                reason=verdict.reason[:300], observed=verdict.observed, usual_low=verdict.low,
                usual_high=verdict.high, score=round(verdict.score, 2), execution=run, opened_at=now,
            )
            label = AnomalyKind(kind).label
            enqueue(
                NotificationType.ANOMALY,
                subject=f"{label}: {name} [{environment}]",
                message=f"{name} ({environment}) {verdict.reason}.",
                dedupe_key=f"anomaly:{finding.pk}:open",
                payload={"workflow_name": name, "environment": environment, "kind": kind, "reason": verdict.reason},
                execution=run,
            )
    except IntegrityError:
        return 0  # another daemon opened it a moment ago
    return 1


def _clear(finding, verdict, now):
    with transaction.atomic():
        reason = verdict.reason if verdict else "no recent runs to judge"
        if not WorkflowAnomaly.objects.filter(pk=finding.pk, status=AnomalyStatus.OPEN).update(
            status=AnomalyStatus.CLEARED, cleared_at=now, cleared_reason=reason[:300]
        ):
            return 0
        enqueue(
            NotificationType.ANOMALY_CLEARED,
            subject=f"Back to normal: {finding.workflow_name} [{finding.environment}]",
            message=f"{finding.workflow_name} ({finding.environment}): {finding.get_kind_display().lower()} is over "
            f"({reason}).",
            dedupe_key=f"anomaly:{finding.pk}:cleared",
            payload={"workflow_name": finding.workflow_name, "environment": finding.environment, "kind": finding.kind},
        )
    return 1
