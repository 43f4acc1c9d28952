"""Anomaly detection from a workflow's own history: no false alert on a steady workflow with daily seasonality;
each injected anomaly is found once, alerted once and cleared once."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from monitoring.anomalies import detect, judge_duration
from monitoring.models import (
    NotificationLog,
    WorkflowAnomaly,
    WorkflowAnomalySettings,
    WorkflowExecution,
)
from monitoring.models.rollup import bucket_of
from monitoring.rollup import rebuild
from monitoring.runs import finish_run, start_run

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
MIN = 60_000


@pytest.fixture(autouse=True)
def clock_after_the_history():
    # Histories are built from T0; whatever the code reads from now() (recent findings, windows) is just after them.
    with time_machine.travel(T0 + timedelta(days=31), tick=True):
        yield


@pytest.fixture(autouse=True)
def webhook(settings):
    settings.MONITORING_NOTIFICATIONS = [{"channel": "webhook", "target": "http://127.0.0.1:9/hook"}]


def usual_ms(at, rng):
    """12 min at night, 15 min by day, ±4 % noise: a steady workflow with daily seasonality."""
    base = 12 * MIN if at.hour < 7 or at.hour >= 20 else 15 * MIN
    return int(base * rng.uniform(0.96, 1.04))


def history(project, hours, *, name="backup", fail_every=0, rng=None, start=T0):
    rng = rng or random.Random(7)
    runs = []
    for h in range(hours):
        at = start + timedelta(hours=h)
        ms = usual_ms(at, rng)
        status = "FAILED" if fail_every and h % fail_every == 0 else "SUCCESS"
        runs.append(WorkflowExecution(project=project, run_id=f"{name}-{h}", workflow_name=name, status=status,
                                      started_at=at, completed_at=at + timedelta(milliseconds=ms), duration_ms=ms,
                                      alert_state="NONE"))
    WorkflowExecution.objects.bulk_create(runs)
    rebuild()
    return start + timedelta(hours=hours)


def one_run(project, at, ms, *, name="backup", status="SUCCESS"):
    run_id = f"{name}-{at:%Y%m%d%H%M}"
    start_run(project, run_id=run_id, workflow_name=name, started_at=at)
    finish_run(project, run_id, status=status, completed_at=at + timedelta(milliseconds=ms))
    return at + timedelta(milliseconds=ms, minutes=1)


def anomaly_notes():
    return list(NotificationLog.objects.filter(event_type__in=["anomaly", "anomaly_cleared"])
                .order_by("id").values_list("event_type", "subject"))


def test_steady_workflow_with_daily_seasonality_raises_nothing(project):
    end = history(project, 24 * 28)
    rng = random.Random(11)
    for h in range(48):
        at = end + timedelta(hours=h)
        assert detect(one_run(project, at, usual_ms(at, rng))) == {"opened": 0, "cleared": 0}
    assert not WorkflowAnomaly.objects.exists() and anomaly_notes() == []


def test_slow_run_is_found_once_explained_and_cleared_once(project):
    end = history(project, 24 * 28)
    now = one_run(project, end + timedelta(hours=2), 41 * MIN)  # 02:00, usually ~12 min
    assert detect(now) == {"opened": 1, "cleared": 0}
    finding = WorkflowAnomaly.objects.get()
    assert (finding.kind, finding.status) == ("duration", "OPEN")
    assert finding.reason.startswith("took 41 m 00 s, usually 11 m") and "–12 m" in finding.reason
    assert detect(now + timedelta(minutes=10)) == {"opened": 0, "cleared": 0}  # still unusual: no second alert
    later = one_run(project, end + timedelta(hours=3), 12 * MIN)
    assert detect(later) == {"opened": 0, "cleared": 1}
    assert detect(later + timedelta(minutes=5)) == {"opened": 0, "cleared": 0}
    finding.refresh_from_db()
    assert finding.status == "CLEARED" and finding.cleared_at is not None
    [(opened, opened_words), (cleared, cleared_words)] = anomaly_notes()
    assert (opened, cleared) == ("anomaly", "anomaly_cleared")
    assert opened_words == f"Unusual duration of the backup workflow in Acme API (production): a run {finding.reason}"
    assert cleared_words.startswith("The unusual duration of the backup workflow in Acme API (production) is over: "
                                    "a run took 12 m 00 s, usually")


def test_a_run_usual_for_its_hour_is_not_an_anomaly_at_that_hour_only(project):
    # Nightly at 02:00 takes 40 min; during the day the same workflow takes 5 min.
    runs = []
    for day in range(28):
        for hour in (2, 10, 14, 18):
            at = T0 + timedelta(days=day, hours=hour)
            ms = 40 * MIN if hour == 2 else 5 * MIN
            runs.append(WorkflowExecution(project=project, run_id=f"n-{day}-{hour}", workflow_name="etl", status="SUCCESS",
                                          started_at=at, completed_at=at + timedelta(milliseconds=ms), duration_ms=ms))
    WorkflowExecution.objects.bulk_create(runs)
    rebuild()
    night = T0 + timedelta(days=28, hours=2)
    assert detect(one_run(project, night, 41 * MIN, name="etl"))["opened"] == 0, list(WorkflowAnomaly.objects.values_list("kind", "reason"))
    afternoon = T0 + timedelta(days=28, hours=14)
    assert detect(one_run(project, afternoon, 40 * MIN, name="etl"))["opened"] == 1


def test_failure_rate_spike_is_found_once_and_clears_when_runs_succeed_again(project):
    end = history(project, 24 * 28, fail_every=20)  # 5 % of runs fail
    for h in range(24):  # then 10 of 24 fail
        one_run(project, end + timedelta(hours=h), 12 * MIN, status="FAILED" if h % 12 < 5 else "SUCCESS")
    now = end + timedelta(hours=24)
    assert detect(now)["opened"] == 1
    finding = WorkflowAnomaly.objects.get(kind="failure_rate")
    assert finding.reason == "10 of 24 runs failed in the last 24 h, usually 5 %"
    assert detect(now + timedelta(minutes=5))["opened"] == 0
    for h in range(24, 48):
        one_run(project, end + timedelta(hours=h), usual_ms(end + timedelta(hours=h), random.Random(h)))
    assert detect(end + timedelta(hours=48)) == {"opened": 0, "cleared": 1}
    kinds = [kind for kind, _ in anomaly_notes()]
    assert kinds == ["anomaly", "anomaly_cleared"]


def test_sensitivity_off_finds_nothing_and_high_finds_smaller_deviations(project):
    end = history(project, 24 * 28)
    WorkflowAnomalySettings.objects.create(project=project, workflow_name="backup", sensitivity="off")
    now = one_run(project, end + timedelta(hours=2), 41 * MIN)
    assert detect(now)["opened"] == 0
    # 22 min against the usual 12: unusual only for a workflow watched closely.
    histogram = {bucket_of(12 * MIN): 20, bucket_of(12 * MIN) + 1: 6, bucket_of(12 * MIN) - 1: 4}
    closely, loosely = judge_duration(histogram, 22 * MIN, 3.5), judge_duration(histogram, 22 * MIN, 5.0)
    assert closely is not None and closely.anomalous is True
    assert loosely is not None and loosely.anomalous is False


def test_too_little_history_makes_no_judgement(project):
    end = history(project, 5)
    assert detect(one_run(project, end, 60 * MIN)) == {"opened": 0, "cleared": 0}


def test_findings_are_marked_on_the_overview_and_the_run_page(client_for, manager, project):
    end = history(project, 24 * 28)
    seen = one_run(project, end + timedelta(hours=2), 41 * MIN)
    detect(seen)
    client = client_for(manager)
    # The overview shows recent findings: read it just after the run, whatever today's date is.
    with time_machine.travel(seen, tick=False):
        overview = client.get(reverse("monitoring:overview")).content.decode()
    assert "took 41 m 00 s" in overview and "mon-anomaly" in overview
    run = WorkflowAnomaly.objects.get().execution
    assert run is not None
    page = client.get(reverse("monitoring:run_detail", args=[run.pk])).content.decode()
    assert "took 41 m 00 s" in page


def test_manager_sets_a_workflows_sensitivity_and_bad_values_are_422(client_for, manager, viewer, project):
    history(project, 3)
    run = WorkflowExecution.objects.first()
    assert run is not None
    url = reverse("monitoring:workflow_sensitivity")
    body = {"project": project.pk, "workflow_name": "backup", "environment": "production", "sensitivity": "high"}
    assert client_for(viewer).post(url, body).status_code == 403
    assert client_for(manager).post(url, {**body, "sensitivity": "extreme"}).status_code == 422
    assert client_for(manager).post(url, {**body, "next": reverse("monitoring:run_detail", args=[run.pk])}).status_code == 302
    assert WorkflowAnomalySettings.objects.get().sensitivity == "high"


def busy_history(project, days, *, name="ingest", rng=None, start=T0):
    """No schedule; about 40 runs an hour by day and 20 by night (±3): a busy workflow with daily seasonality."""
    rng = rng or random.Random(5)
    runs = []
    for h in range(days * 24):
        runs += busy_hour(project, start + timedelta(hours=h), name=name, rng=rng)
    WorkflowExecution.objects.bulk_create(runs)
    rebuild()
    return start + timedelta(days=days)


def busy_hour(project, hour_start, *, name="ingest", rng, count=None):
    usual = 40 if 8 <= hour_start.hour < 20 else 20
    count = usual + rng.randint(-3, 3) if count is None else count
    runs = []
    for i in range(count):
        at = hour_start + timedelta(seconds=i * 3600 // max(count, 1))
        runs.append(WorkflowExecution(project=project, run_id=f"{name}-{at:%Y%m%d%H%M%S}-{i}", workflow_name=name,
                                      status="SUCCESS", started_at=at, completed_at=at + timedelta(seconds=20),
                                      duration_ms=20_000, alert_state="NONE"))
    return runs


def add_hours(project, first_hour, hours=1, **kwargs):
    """`hours` more hours of runs from `first_hour` on; returns the end of the last one."""
    runs = []
    for h in range(hours):
        at = first_hour + timedelta(hours=h)
        runs += busy_hour(project, at, rng=random.Random(at.hour), **kwargs)
    WorkflowExecution.objects.bulk_create(runs)
    rebuild(since=first_hour)
    return first_hour + timedelta(hours=hours)


def test_busy_workflow_with_daily_seasonality_raises_no_volume_alert(project):
    now = busy_history(project, 8)
    for _ in range(10):  # night and day, every third hour: 20 an hour, then 40
        now = add_hours(project, now, 3)
        assert detect(now) == {"opened": 0, "cleared": 0}, list(WorkflowAnomaly.objects.values_list("reason"))
    assert not WorkflowAnomaly.objects.exists() and anomaly_notes() == []


def test_volume_drop_is_found_once_explained_and_cleared_once(project, client_for, manager):
    # Nine days ago at midnight, so the overview's last week still holds the runs.
    start = (datetime.now(UTC) - timedelta(days=9)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = busy_history(project, 8, start=start) + timedelta(hours=10)  # 10:00: usually about 40 runs an hour
    add_hours(project, end - timedelta(hours=10), 10)
    now = add_hours(project, end, count=5)
    assert detect(now) == {"opened": 1, "cleared": 0}
    finding = WorkflowAnomaly.objects.get()
    assert (finding.kind, finding.status, finding.observed) == ("volume", "OPEN", 5)
    assert finding.reason.startswith("5 runs in the last hour, usually 3") and finding.reason.endswith("43")
    assert finding.usual_low is not None and finding.usual_high is not None
    assert 37 <= finding.usual_low <= finding.usual_high <= 43
    assert detect(now + timedelta(minutes=5)) == {"opened": 0, "cleared": 0}  # still low: no second alert
    overview = client_for(manager).get(reverse("monitoring:overview")).content.decode()
    assert 'data-anomaly="volume"' in overview and "5 runs in the last hour" in overview
    later = add_hours(project, now)
    assert detect(later) == {"opened": 0, "cleared": 1}
    assert detect(later + timedelta(minutes=5)) == {"opened": 0, "cleared": 0}
    finding.refresh_from_db()
    assert finding.status == "CLEARED" and "in the last hour" in finding.cleared_reason
    [(opened, opened_words), (cleared, cleared_words)] = anomaly_notes()
    assert (opened, cleared) == ("anomaly", "anomaly_cleared")
    assert opened_words == f"Unusual number of runs of the ingest workflow in Acme API (production): {finding.reason}"
    assert cleared_words == ("The unusual number of runs of the ingest workflow in Acme API (production) is over: "
                             f"{finding.cleared_reason}")


def test_workflow_that_stops_running_is_a_volume_anomaly_and_sensitivity_off_silences_it(project):
    end = busy_history(project, 8) + timedelta(hours=12)
    add_hours(project, end - timedelta(hours=12), 12)
    now = end + timedelta(hours=1)  # not one run in the last hour
    WorkflowAnomalySettings.objects.create(project=project, workflow_name="ingest", sensitivity="off")
    assert detect(now) == {"opened": 0, "cleared": 0}
    WorkflowAnomalySettings.objects.update(sensitivity="normal")
    assert detect(now) == {"opened": 1, "cleared": 0}
    assert WorkflowAnomaly.objects.get().reason.startswith("0 runs in the last hour, usually ")


def test_hourly_workflow_judged_by_the_day_three_times_as_many_runs_is_a_spike(project):
    end = history(project, 24 * 28)
    rng = random.Random(3)
    runs = []
    for i in range(72):  # every 20 minutes for a day instead of hourly
        at = end + timedelta(minutes=20 * i)
        ms = usual_ms(at, rng)
        runs.append(WorkflowExecution(project=project, run_id=f"burst-{i}", workflow_name="backup", status="SUCCESS",
                                      started_at=at, completed_at=at + timedelta(milliseconds=ms), duration_ms=ms))
    WorkflowExecution.objects.bulk_create(runs)
    rebuild()
    assert detect(end + timedelta(hours=24)) == {"opened": 1, "cleared": 0}
    finding = WorkflowAnomaly.objects.get()
    assert finding.kind == "volume" and finding.reason == "72 runs in the last 24 h, usually 24"


def test_too_few_runs_for_a_volume_window_make_no_volume_judgement(project):
    from monitoring.anomalies import judge_volume

    sparse = {("hour", 0): 0, **{("hour", k): 1 for k in range(1, 29)},
              ("24 h", 0): 0, **{("24 h", k): 4 for k in range(1, 29)}}
    assert judge_volume(sparse, 3.0, 2.0) is None
    young = {("hour", 0): 0, ("hour", 1): 40, ("hour", 2): 41, ("hour", 3): 39}  # three days of history only
    assert judge_volume(young, 3.0, 2.0) is None
