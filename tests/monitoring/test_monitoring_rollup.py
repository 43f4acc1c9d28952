"""The dashboard's daily rollup stays equal to what the runs say, and its p95 is close to the exact one."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import WorkflowDailyStats, WorkflowExecution
from monitoring.models.rollup import histogram_percentile
from monitoring.rollup import rebuild, rebuild_in_database
from monitoring.runs import finish_run, start_run
from monitoring.stats import workflow_overview


def snapshot():
    return sorted(
        WorkflowDailyStats.objects.values_list(
            "workflow_name", "day", "successful_runs", "failed_runs", "cancelled_runs", "total_duration_ms",
            "timed_runs", "duration_histogram", "last_started_at",
        )
    )


def exact_percentile(values, fraction):
    values = sorted(values)
    position = (len(values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


@pytest.fixture
def finished_runs(project):
    rng = random.Random(7)
    now = timezone.now()
    durations = []
    for i in range(120):
        start = now - timedelta(hours=rng.uniform(0.5, 24 * 6))
        ms = int(rng.lognormvariate(10, 0.6))
        status = rng.choice(["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "CANCELLED"])
        start_run(project, run_id=f"r{i}", workflow_name=f"wf-{i % 3}", started_at=start)
        finish_run(project, f"r{i}", status=status, completed_at=start + timedelta(milliseconds=ms))
        if i % 3 == 0:
            durations.append(ms)
    start_run(project, run_id="still-running", workflow_name="wf-0", started_at=now)
    return durations


def test_finishing_runs_keeps_the_rollup_equal_to_a_rebuild(finished_runs, project):
    kept = snapshot()
    assert sum(r[2] + r[3] + r[4] for r in kept) == 120  # the running run is not counted
    r0 = WorkflowExecution.objects.get(run_id="r0")
    finish_run(project, "r0", status=r0.status, completed_at=r0.completed_at)  # a retried finish
    assert snapshot() == kept  # counted once
    rebuild()
    assert snapshot() == kept


def test_database_rebuild_matches_the_python_rebuild(finished_runs):
    rebuild()
    by_python = snapshot()
    rebuild_in_database()
    assert snapshot() == by_python


def test_histogram_p95_is_within_ten_percent_of_the_exact_value(finished_runs):
    row = next(r for r in workflow_overview() if r.workflow_name == "wf-0")
    exact = exact_percentile(finished_runs, 0.95)
    assert abs(row.p95_ms - exact) / exact < 0.10


def test_histogram_percentile_edge_cases():
    assert histogram_percentile({}, 0.95) is None
    assert 0 < histogram_percentile({0: 3}, 0.95) <= 110
    assert 985 < histogram_percentile({24: 1}, 0.5) < 1084  # bucket 24 ≈ 985–1083 ms
    # a percentile never decreases with the fraction
    histogram = {3: 5, 10: 20, 11: 1}
    values = [histogram_percentile(histogram, f / 100) for f in range(1, 101)]
    assert values == sorted(values)
