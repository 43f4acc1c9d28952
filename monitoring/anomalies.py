"""Anomaly detection per workflow, from its own history (no external service).

Duration: the latest finished run against the successful runs of the last BASELINE_DAYS, on a log scale (the
rollup's 10 %-wide buckets): robust z = (bucket − median) / (1.4826 × MAD). The baseline is the runs at the same
hour of the week when there are enough of them, else the same hour of the day, else all runs (seasonality where the
history supports it). Failure rate: failures in the last RECENT_HOURS against the rate of the whole days before
(binomial z-score). Volume: the runs started in the last hour (or, for a workflow too sparse for that, the last
24 h) against the same window at the same wall-clock time on each of the last BASELINE_DAYS days (the same hour of
the week when four weeks of history support it, else every day): robust z = (count − median) /
max(1.4826 × MAD, √median), and the count must also be a multiple away from the median, so a workflow that usually
runs 40 times an hour and now runs 5 is found, even with no schedule to miss.

The history is read by monitoring/anomaly_history.py in four queries per pass whatever the number of workflows: the
daily rollup, the latest runs, the duration histogram at the hours judged, and the recent counts.

A finding opens once (unique while open), alerts once through notify.enqueue, and clears itself (with one
"back to normal" notification) when the behaviour is normal again. Sensitivity per workflow: off / low / normal /
high (WorkflowAnomalySettings).
"""

import math
import statistics
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import alerts
from .anomaly_history import (
    BASELINE_DAYS,
    RECENT_HOURS,
    VOLUME_WINDOWS,
    WEEKLY_SAMPLES,
    daily_history,
    duration_baselines,
    failure_baseline,
    latest_finished_runs,
    recent_counts,
    volume_history,
    volume_windows,
    whole_window_histograms,
)
from .models import (
    AnomalyKind,
    AnomalyStatus,
    RunStatus,
    Sensitivity,
    WorkflowAnomaly,
    WorkflowAnomalySettings,
)
from .models.rollup import bucket_of, histogram_percentile
from .notify import enqueue

MIN_BASELINE_RUNS = 8  # fewer runs in a seasonal slot than this: use the coarser slot
MIN_FAILURES = 3  # a rate spike needs at least this many failures in the recent window
MIN_RATE_BASELINE = 20
MIN_VOLUME_RUNS = 10  # a volume window must usually hold this many runs to be judged
MIN_VOLUME_SAMPLES = 4

# Robust z-score a finding needs, per sensitivity (duration; failure rate; volume), and for volume the factor the
# count must also differ from the usual one by (twice or half as many runs at "normal").
THRESHOLDS = {
    Sensitivity.LOW: (8.0, 6.0, 5.0),
    Sensitivity.NORMAL: (5.0, 4.0, 3.0),
    Sensitivity.HIGH: (3.5, 3.0, 2.5),
}
VOLUME_FACTORS = {Sensitivity.LOW: 3.0, Sensitivity.NORMAL: 2.0, Sensitivity.HIGH: 1.5}
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
    settled: bool = True  # well inside the usual range: an open finding may clear (hysteresis)


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
    runs = sum(histogram.values())
    usual = f"usually {_duration_words(low)}–{_duration_words(high)} (middle 80 % of {runs:,} earlier runs)"
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


def seasonal_histogram(slots: dict, weekday: int, hour: int, leave_out: int | None = None, whole=None) -> dict:
    """The finest baseline with enough runs: same hour of week, same hour of day, or all (minus the run judged).
    `whole` is the whole window's histogram when `slots` holds only some hours of the day."""

    def merged(keys, base=None):
        out = dict(base or {})
        for key in keys:
            for bucket, count in slots.get(key, {}).items():
                out[bucket] = out.get(bucket, 0) + count
        if leave_out is not None and out.get(leave_out):
            out[leave_out] -= 1
        return {b: c for b, c in out.items() if c}

    for keys in ([(weekday, hour)], [k for k in slots if k[1] == hour]):
        histogram = merged(keys)
        if sum(histogram.values()) >= MIN_BASELINE_RUNS:
            return histogram
    return merged([], whole) if whole is not None else merged(list(slots))


def volume_samples(volume: dict, name: str) -> list[float]:
    """The baseline counts of one window length: the same hour of the week four weeks running, else every day."""
    weekly = [volume[(name, k)] for k in WEEKLY_SAMPLES if (name, k) in volume]
    if len(weekly) == len(WEEKLY_SAMPLES):
        return weekly
    return [volume[(name, k)] for k in range(1, BASELINE_DAYS + 1) if (name, k) in volume]


def judge_volume(volume: dict, threshold: float, factor: float) -> Verdict | None:
    """The recent run count against the usual one, in the shortest window that usually holds MIN_VOLUME_RUNS runs;
    None when no window does (a sparse workflow: its schedule's missed-run check covers it)."""
    for name in VOLUME_WINDOWS:
        samples = volume_samples(volume, name)
        if len(samples) < MIN_VOLUME_SAMPLES or statistics.median(samples) < MIN_VOLUME_RUNS:
            continue
        median = statistics.median(samples)
        mad = statistics.median(abs(s - median) for s in samples)
        spread = max(MAD_SCALE * mad, math.sqrt(median))  # counts are at least as noisy as a Poisson process
        count = volume[(name, 0)]
        score = (count - median) / spread
        ratio = (count + 1) / (median + 1)
        low, high = min(samples), max(samples)
        if len(samples) >= 10:
            deciles = statistics.quantiles(samples, n=10, method="inclusive")
            low, high = deciles[0], deciles[-1]
        run_words = "run" if count == 1 else "runs"
        usual = f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}–{high:.0f}"
        reason = f"{count} {run_words} in the last {name}, usually {usual}"
        anomalous = abs(score) >= threshold and (ratio <= 1 / factor or ratio >= factor)
        settled = abs(score) < threshold / 2 or 1 / math.sqrt(factor) < ratio < math.sqrt(factor)
        return Verdict(anomalous, score, reason, count, low, high, settled)
    return None


def detect(now=None):
    """One detection pass: returns {"opened": n, "cleared": n}."""
    now = now or timezone.now()
    sensitivity = _sensitivities()
    open_findings = {(a.project_id, a.workflow_name, a.environment, a.kind): a for a in WorkflowAnomaly.objects.open()}
    verdicts = {}

    history = daily_history(now)
    latest = {key: run for key, run in latest_finished_runs(now, history).items()
              if sensitivity.get(key) != Sensitivity.OFF and run.status == RunStatus.SUCCESS
              and run.duration_ms is not None}
    baselines = duration_baselines(now, latest)
    judged = {}
    for key, run in latest.items():
        started = timezone.localtime(run.started_at)  # the zone ExtractWeekDay/ExtractHour use
        weekday = (started.isoweekday() % 7) + 1  # Django's ExtractWeekDay: Sunday = 1 … Saturday = 7
        judged[key] = (run, weekday, started.hour, bucket_of(run.duration_ms))
    # Workflows whose hour of day has too few runs are judged against the whole window (read from the rollup).
    sparse = {key for key, (_run, _wd, hour, _b) in judged.items()
              if sum(sum(h.values()) for (_, h_hour), h in baselines.get(key, {}).items() if h_hour == hour)
              < MIN_BASELINE_RUNS + 1}
    whole = whole_window_histograms(now, sparse)
    for key, (run, weekday, hour, bucket) in judged.items():
        histogram = seasonal_histogram(baselines.get(key, {}), weekday, hour, leave_out=bucket,
                                       whole=whole.get(key, {}) if key in sparse else None)
        verdict = judge_duration(histogram, run.duration_ms, THRESHOLDS[sensitivity.get(key, Sensitivity.NORMAL)][0])
        if verdict is not None:
            verdicts[(*key, AnomalyKind.DURATION)] = (verdict, run)

    counts, hours = recent_counts(now)
    windows = volume_windows(now, hours)
    for key in history.keys() | counts.keys():
        level = sensitivity.get(key, Sensitivity.NORMAL)
        if level == Sensitivity.OFF:
            continue
        days, recent = history.get(key, {}), counts.get(key)
        if recent:
            verdict = judge_failure_rate(recent["recent_failed"], recent["recent_decided"],
                                         *failure_baseline(days, now), THRESHOLDS[level][1])
            if verdict is not None:
                verdicts[(*key, AnomalyKind.FAILURE_RATE)] = (verdict, None)
        verdict = judge_volume(volume_history(days, recent, windows, now), THRESHOLDS[level][2], VOLUME_FACTORS[level])
        if verdict is not None:
            verdicts[(*key, AnomalyKind.VOLUME)] = (verdict, None)

    opened = cleared = 0
    for key, (verdict, run) in verdicts.items():
        finding = open_findings.pop(key, None)
        if verdict.anomalous and finding is None:
            opened += _open(key, verdict, run, now)
        elif not verdict.anomalous and finding is not None and _back_to_normal(verdict, key[3], sensitivity, key):
            cleared += _clear(finding, verdict, now)
    # Open findings with nothing to judge any more (no recent runs, sensitivity off): behaviour left the window.
    for key, finding in open_findings.items():
        if sensitivity.get(key[:3]) == Sensitivity.OFF or key[3] in (AnomalyKind.FAILURE_RATE, AnomalyKind.VOLUME):
            cleared += _clear(finding, None, now)
    return {"opened": opened, "cleared": cleared}


def _back_to_normal(verdict, kind, sensitivity, key):
    # Hysteresis for rates and counts: clear well inside the threshold, so a value hovering at it does not flap.
    if kind == AnomalyKind.FAILURE_RATE:
        return verdict.score < THRESHOLDS[sensitivity.get(key[:3], Sensitivity.NORMAL)][1] / 2
    return verdict.settled


def _open(key, verdict, run, now):
    project_id, name, environment, kind = key
    try:
        with transaction.atomic():
            finding = WorkflowAnomaly.objects.create(
                project_id=project_id, workflow_name=name, environment=environment, kind=kind,
                reason=verdict.reason[:300], observed=verdict.observed, usual_low=verdict.low,
                usual_high=verdict.high, score=round(verdict.score, 2), execution=run, opened_at=now,
            )
            enqueue(notice=alerts.anomaly_opened(finding), dedupe_key=f"anomaly:{finding.pk}:open", execution=run)
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
        finding.refresh_from_db(fields=["status", "cleared_at", "cleared_reason"])
        enqueue(notice=alerts.anomaly_cleared(finding, verdict.reason if verdict else ""),
                dedupe_key=f"anomaly:{finding.pk}:cleared")
    return 1
