"""Reports that add up: an on-demand report counts every run in its window (daily-report runs too), and the
runs it lists are exactly the ones its totals count."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.models import MonitoringReport, ReportType
from monitoring.reports import build_report, daily_window
from monitoring.runs import finish_run, start_run


def _runs(project, count, *, failed_every, start, environment="production", prefix="r"):
    for i in range(count):
        at = start + timedelta(minutes=10 * i)
        start_run(project, run_id=f"{prefix}{i}", workflow_name=f"wf-{i % 3}", started_at=at, environment=environment)
        finish_run(project, f"{prefix}{i}", status="FAILED" if i % failed_every == 0 else "SUCCESS",
                   completed_at=at + timedelta(seconds=30), error_message="boom" if i % failed_every == 0 else None)


def _listed(client, report, **query):
    """Every run row the report page lists, over all its pages."""
    rows, page = [], 1
    while True:
        html = client.get(reverse("monitoring:report_detail", args=[report.report_id]), {**query, "page": page}).content.decode()
        rows += re.findall(r'<tr data-run="([^"]+)">', html)
        if "Older →" not in html:
            return rows
        page += 1


@pytest.fixture
def day_with_a_daily_report(project):
    now = timezone.now()
    start, end = daily_window(now)
    _runs(project, 87, failed_every=9, start=start)  # 10 failed (0, 9, …, 81)
    daily = build_report(start, end, ReportType.DAILY, notify=False)
    return start, end, daily


def test_on_demand_report_counts_runs_a_daily_report_already_owns(client_for, manager, day_with_a_daily_report):
    start, end, daily = day_with_a_daily_report
    assert (daily.total_runs, daily.failed_runs) == (87, 10)
    on_demand = build_report(start, end, notify=False)
    assert (on_demand.total_runs, on_demand.successful_runs, on_demand.failed_runs) == (87, 77, 10)
    client = client_for(manager)
    assert len(_listed(client, on_demand)) == 87
    assert len(_listed(client, on_demand, status="FAILED")) == 10
    assert len(_listed(client, on_demand, status="SUCCESS")) == 77
    assert sum(w["total"] for w in on_demand.workflow_breakdown) == 87
    daily.refresh_from_db()
    assert daily.executions.count() == 87  # the daily report still owns its runs


def test_totals_equal_the_rows_listed_for_the_daily_report_too(client_for, manager, day_with_a_daily_report):
    _, _, daily = day_with_a_daily_report
    client = client_for(manager)
    html = client.get(reverse("monitoring:report_detail", args=[daily.report_id])).content.decode()
    assert "87 runs in this list" in html
    assert len(_listed(client, daily, status="FAILED")) == daily.failed_runs == 10


def test_a_run_that_finishes_after_the_report_does_not_change_what_it_lists(client_for, manager, project):
    now = timezone.now()
    start_run(project, run_id="late", workflow_name="wf", started_at=now - timedelta(minutes=5))
    report = build_report(now - timedelta(hours=1), now, notify=False)
    finish_run(project, "late", status="FAILED", completed_at=now)
    assert (report.total_runs, report.failed_runs) == (1, 0)
    assert _listed(client_for(manager), report, status="FAILED") == []
    assert _listed(client_for(manager), report, status="RUNNING") == ["late"]


def test_report_for_one_environment_counts_only_its_runs(project):
    now = timezone.now()
    _runs(project, 6, failed_every=2, start=now - timedelta(hours=2), prefix="p")
    _runs(project, 4, failed_every=4, start=now - timedelta(hours=2), environment="staging", prefix="s")
    staging = build_report(now - timedelta(hours=3), now, notify=False, environment="staging")
    assert (staging.environment, staging.total_runs, staging.failed_runs) == ("staging", 4, 1)
    everything = build_report(now - timedelta(hours=3), now, notify=False)
    assert everything.total_runs == 10


def test_report_form_takes_an_environment(client_for, manager, project):
    response = client_for(manager).post(reverse("monitoring:reports"), {"hours": 2, "environment": "staging"})
    assert response.status_code == 302
    assert MonitoringReport.objects.get().environment == "staging"
    bad = client_for(manager).post(reverse("monitoring:reports"), {"hours": 2, "environment": "nowhere"})
    assert bad.status_code == 422


def test_unknown_status_filter_is_400(client_for, manager, day_with_a_daily_report):
    _, _, daily = day_with_a_daily_report
    url = reverse("monitoring:report_detail", args=[daily.report_id])
    assert client_for(manager).get(url, {"status": "BOGUS"}).status_code == 400
