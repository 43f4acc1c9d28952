"""Honest numbers: every figure says how many samples it rests on, a p95 is given only over enough samples (one
rule, lib/samples.py, used by Insights, the monitoring pages and the API), and counts come with the previous
period beside them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from events.insights import project_insights
from events.models import ActivityEvent, EventStatus, EventType, ProjectAction
from lib.samples import MIN_PERCENTILE_SAMPLES, Spread
from monitoring.runs import finish_run, start_run
from tests.api_fixtures import *  # noqa: F403

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def event(project, *, at=NOW, **fields):
    fields.setdefault("event_type", EventType.INDEXING_COMPLETED)
    fields.setdefault("entity_type", "indexing")
    fields.setdefault("title", "Indexed")
    fields.setdefault("status", EventStatus.COMPLETED)
    return ActivityEvent.objects.create(project=project, created_at=at, **fields)


def timed_events(project, n, *, event_type=EventType.INDEXING_COMPLETED, at=NOW):
    for i in range(n):
        event(project, event_type=event_type, duration=1000 + 100 * i, at=at - timedelta(minutes=i))


# --- the one rule ------------------------------------------------------------------------------------------------


def test_a_p95_needs_twenty_samples_below_that_the_count_and_the_longest():
    assert MIN_PERCENTILE_SAMPLES == 20
    few = Spread.of(count=19, average=10.0, p95=30.0, maximum=31.0, noun=("run", "runs"))
    assert few.p95 is None and few.tail == "longest 31 of 19 runs"
    enough = Spread.of(count=20, average=10.0, p95=30.0, maximum=31.0, noun=("run", "runs"))
    assert enough.p95 == 30.0 and enough.tail == "p95 30 from 20 runs"
    single = Spread.of(count=1, average=215.0, p95=235.0, maximum=215.0, noun=("run", "runs"))
    assert single.p95 is None and single.tail == "215, a single run" and single.average_words == "215 (1 run)"
    assert Spread.of(count=0, average=None, p95=None, maximum=None, noun=("run", "runs")).tail == "no timed runs"


# --- Insights ----------------------------------------------------------------------------------------------------


def test_insights_give_no_p95_and_name_no_slowest_step_from_too_few_events(project):
    timed_events(project, 1, event_type=EventType.APR_COMPLETED)
    timed_events(project, 19)
    data = project_insights(project, days=7)
    assert all(d.p95_ms is None for d in data.durations)
    assert {d.event_type: d.max_ms for d in data.durations} == {"APR_COMPLETED": 1000, "INDEXING_COMPLETED": 2800}
    assert not any("slowest step" in s and "p95" in s for s in data.summaries)
    assert ("Too few timed events to name a slowest step: it takes 20 of one type, and the most is 19 "
            "(Indexing completed).") in data.summaries


def test_insights_name_the_slowest_step_with_its_sample_size_once_there_are_enough(project):
    timed_events(project, 20)
    timed_events(project, 3, event_type=EventType.APR_COMPLETED)
    data = project_insights(project, days=7)
    stats = {d.event_type: d for d in data.durations}
    assert stats["INDEXING_COMPLETED"].p95_ms is not None and stats["APR_COMPLETED"].p95_ms is None
    assert data.durations[0].event_type == "INDEXING_COMPLETED"  # the ranked one first
    assert any(s.startswith("Indexing completed is the slowest step: p95 ") and "from 20 timed events" in s
               for s in data.summaries)


def test_insights_compare_each_count_with_the_window_before(project):
    for days_ago in (1, 2, 3):
        event(project, at=NOW - timedelta(days=days_ago))
    event(project, at=NOW - timedelta(days=8), status=EventStatus.FAILED)  # the 7 days before
    event(project, at=NOW - timedelta(days=9))
    event(project, at=NOW - timedelta(days=30))  # outside both windows
    data = project_insights(project, days=7)
    assert (data.total, data.previous.total) == (3, 2)
    assert data.previous.by_status["FAILED"] == 1 and data.previous.failure_rate == pytest.approx(0.5)
    assert "3 events in the last 7 days, up from 2 in the 7 days before; 0 failures." in data.summaries
    assert "0.0% of 3 finished events failed, against 50.0% of 2 in the 7 days before." in data.summaries


def test_todays_actions_are_said_beside_yesterday_by_the_same_time(project):
    def action(kind, at):
        ProjectAction.objects.create(project=project, action_type=kind, created_at=at)

    action("endpoints_added", NOW - timedelta(hours=1))
    action("endpoints_added", NOW - timedelta(hours=2))
    action("endpoints_added", NOW - timedelta(days=1, hours=1))  # yesterday 14:00: before this time of day
    action("endpoints_added", NOW - timedelta(days=1) + timedelta(hours=3))  # yesterday 18:00: not yet by now
    action("deployment", NOW - timedelta(days=1, hours=2))
    sentences = project_insights(project, days=7).summaries
    assert "2 endpoint additions today, up from 1 by this time yesterday." in sentences
    assert "No deployments today; 1 by this time yesterday." in sentences


def test_insights_page_shows_sample_sizes_and_the_previous_window(client_for, project, viewer):
    timed_events(project, 1, event_type=EventType.APR_COMPLETED)
    event(project, at=NOW - timedelta(days=10))
    html = client_for(viewer).get(reverse("events:insights", args=[project.slug]), {"days": "7"}).content.decode()
    assert "longest of 1 timed event" in html
    assert "p95 from" not in html
    assert "against 1 in the 7 days before" in html
    assert "A p95 needs 20 timed events of a type" in html


def test_insights_page_shows_a_p95_with_its_sample_size_when_there_are_enough(client_for, project, viewer):
    timed_events(project, 25)
    html = client_for(viewer).get(reverse("events:insights", args=[project.slug]), {"days": "7"}).content.decode()
    assert "p95 from 25 timed events" in html and "longest of" not in html


def test_insights_api_gives_no_p95_below_the_sample_minimum_and_the_previous_window(api_as, read_token, project):
    timed_events(project, 4)
    event(project, at=NOW - timedelta(days=40))
    body = api_as(read_token).get("/insights", days="30").json()
    [duration] = body["durations"]
    assert duration["p95_ms"] is None and duration["max_ms"] == 1300 and duration["count"] == 4
    assert body["percentile_min_samples"] == 20
    assert body["previous"]["total"] == 1


# --- monitoring --------------------------------------------------------------------------------------------------


def runs(project, n, name="nightly"):
    for i in range(n):
        started = NOW - timedelta(hours=2, minutes=i)
        start_run(project, run_id=f"{name}-{i}", workflow_name=name, started_at=started)
        finish_run(project, f"{name}-{i}", status="SUCCESS", completed_at=started + timedelta(seconds=10 + i))


def test_overview_shows_no_p95_of_a_single_run(client_for, manager, project):
    runs(project, 1)
    html = client_for(manager).get(reverse("monitoring:overview")).content.decode()
    assert 'data-p95="no"' in html and "longest of 1 timed run" in html and "of 1 timed run" in html
    assert "p95 from" not in html


def test_overview_shows_the_p95_with_its_run_count_once_there_are_twenty(client_for, manager, project):
    runs(project, 20)
    html = client_for(manager).get(reverse("monitoring:overview")).content.decode()
    assert 'data-p95="yes"' in html and "p95 from 20 timed runs" in html
    assert "longest of" not in html


def test_run_page_says_what_is_usual_and_how_many_runs_it_rests_on(client_for, manager, project):
    runs(project, 3)
    from monitoring.models import WorkflowExecution

    run = WorkflowExecution.objects.get(run_id="nightly-0")
    html = client_for(manager).get(reverse("monitoring:run_detail", args=[run.pk])).content.decode()
    assert "11.0 s on average over 3 timed runs; longest 12.0 s of 3 timed runs (last 7 days)" in html
