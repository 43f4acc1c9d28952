"""Per-workflow daily totals, kept as runs finish, so the dashboard reads hundreds of rows, not a week of runs.

Not one of the six monitoring tables: a read model derived from workflow_executions (rebuildable with
`manage.py monitor --rebuild-stats`). Durations are kept as a log-scale histogram (buckets 10 % wide) so a 7-day
p95 is read from a few hundred rows, accurate to within about 5 %.
"""

import math

from django.db import models

from .environments import environment_field

HISTOGRAM_BASE_MS = 100
HISTOGRAM_GROWTH = 1.1


def bucket_of(duration_ms) -> int:
    """Histogram bucket of a duration: 0 for ≤ 100 ms, then one bucket per 10 % growth."""
    return max(0, math.floor(math.log(max(duration_ms, HISTOGRAM_BASE_MS) / HISTOGRAM_BASE_MS) / math.log(HISTOGRAM_GROWTH)))


def bucket_bounds(index):
    if index == 0:
        return 0.0, HISTOGRAM_BASE_MS * HISTOGRAM_GROWTH
    return HISTOGRAM_BASE_MS * HISTOGRAM_GROWTH**index, HISTOGRAM_BASE_MS * HISTOGRAM_GROWTH ** (index + 1)


def histogram_percentile(histogram: dict, fraction: float):
    """Interpolated linearly inside the bucket that holds the percentile (as Prometheus' histogram_quantile)."""
    total = sum(histogram.values())
    if not total:
        return None
    needed, seen = fraction * total, 0
    for index in sorted(histogram):
        count = histogram[index]
        if seen + count >= needed:
            low, high = bucket_bounds(index)
            return low + (high - low) * (needed - seen) / count
        seen += count
    return bucket_bounds(max(histogram))[1]


class WorkflowDailyStats(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    workflow_name = models.CharField(max_length=200)
    environment = environment_field()
    day = models.DateField(help_text="UTC day the runs started")
    successful_runs = models.PositiveIntegerField(default=0)
    failed_runs = models.PositiveIntegerField(default=0)
    cancelled_runs = models.PositiveIntegerField(default=0)
    total_duration_ms = models.BigIntegerField(default=0)
    timed_runs = models.PositiveIntegerField(default=0)
    # The longest timed run of the day: what a page shows instead of a p95 when there are few runs (lib/samples.py).
    max_duration_ms = models.BigIntegerField(null=True, blank=True)
    # {"bucket index": count}; see bucket_of()
    duration_histogram = models.JSONField(default=dict)
    last_started_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "workflow_daily_stats"
        verbose_name_plural = "workflow daily stats"
        constraints = [
            models.UniqueConstraint(fields=["project", "workflow_name", "environment", "day"], name="dailystats_one_per_workflow_env_day")
        ]
        indexes = [models.Index(fields=["day"], name="dailystats_day")]

    def __str__(self):
        return f"{self.workflow_name} {self.day}"
