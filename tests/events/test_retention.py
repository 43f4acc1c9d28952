"""Retention: each project's activity goes after its own retention_days; rollups stay; a dry run removes nothing."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from events import partitions
from events.models import ActivityEvent, ChunkPerformance, ProjectAction
from events.partitions import ensure_partitions, monthly_partitions
from events.retention import prune_activity
from monitoring.models import WorkflowDailyStats
from projects.models import Membership, Project, Role

only_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL concept")


def event_at(project, moment, title="t"):
    return ActivityEvent.objects.create(project=project, event_type="INDEXING_STARTED", entity_type="repo",
                                        title=title, created_at=moment)


def action_at(project, moment):
    return ProjectAction.objects.create(project=project, action_type="deployment", created_at=moment)


@pytest.fixture
def short_lived(owner):
    """A second project keeping 30 days (the `project` fixture keeps the default 180)."""
    other = Project.objects.create(name="Scratch", slug="scratch", retention_days=30)
    Membership.objects.create(project=other, user=owner, role=Role.OWNER)
    return other


def rollups_of(project):
    WorkflowDailyStats.objects.create(project=project, workflow_name="nightly", day=date(2001, 1, 1), successful_runs=3)
    ChunkPerformance.objects.create(project=project, chunk_id="c1", times_used=9)


def test_prune_removes_each_projects_activity_after_its_own_retention_in_batches(project, short_lived):
    now = datetime.now(UTC)
    ActivityEvent.objects.all().delete()  # the receivers' project-created events
    long_old, long_kept = event_at(project, now - timedelta(days=200)), event_at(project, now - timedelta(days=40))
    short_old = [event_at(short_lived, now - timedelta(days=40 + i)) for i in range(5)]
    short_kept = event_at(short_lived, now - timedelta(days=10))
    old_action, kept_action = action_at(short_lived, now - timedelta(days=31)), action_at(project, now - timedelta(days=31))
    rollups_of(short_lived)

    plan = prune_activity(batch=2, now=now)

    assert set(ActivityEvent.objects.values_list("pk", flat=True)) == {long_kept.pk, short_kept.pk}
    assert not ActivityEvent.objects.filter(pk__in=[long_old.pk, *(e.pk for e in short_old)]).exists()
    assert set(ProjectAction.objects.filter(created_at__lt=now - timedelta(days=1)).values_list("pk", flat=True)) == {
        kept_action.pk}
    assert not ProjectAction.objects.filter(pk=old_action.pk).exists()
    assert plan.rows == 7 and not plan.dry_run
    # What must survive retention does: the daily workflow rollup and the answer-quality rollup.
    assert WorkflowDailyStats.objects.filter(project=short_lived).count() == 1
    assert ChunkPerformance.objects.get(project=short_lived).times_used == 9
    # Nothing left to do the second time.
    assert prune_activity(now=now).rows == 0


def test_dry_run_says_what_would_go_and_removes_nothing(project, short_lived, capsys):
    now = datetime.now(UTC)
    event_at(short_lived, now - timedelta(days=45))
    event_at(short_lived, now - timedelta(days=50))
    event_at(project, now - timedelta(days=45))
    count = ActivityEvent.objects.count()

    call_command("prune_activity", "--dry-run")

    out = capsys.readouterr().out
    assert "would delete 2 rows of project scratch" in out
    assert "acme-api" not in out
    assert "Dry run: would remove 2 rows." in out
    assert ActivityEvent.objects.count() == count
    call_command("prune_activity")
    assert "Removed 2 rows." in capsys.readouterr().out
    assert ActivityEvent.objects.count() == count - 2


@only_postgresql
def test_a_month_goes_by_dropping_its_partition_once_every_project_in_it_is_past_retention(project, short_lived):
    # A year five years from now: beyond the partitions migrate made, whatever day the suite runs.
    year = datetime.now(UTC).year + 5
    ensure_partitions(2, now=datetime(year, 1, 5, tzinfo=UTC))
    jan = [event_at(project, datetime(year, 1, 10, tzinfo=UTC)), event_at(short_lived, datetime(year, 1, 11, tzinfo=UTC))]
    jan_action = action_at(project, datetime(year, 1, 12, tzinfo=UTC))
    feb_short = event_at(short_lived, datetime(year, 2, 20, tzinfo=UTC))
    feb_long_old, feb_long_kept = (event_at(project, datetime(year, 2, 10, tzinfo=UTC)),
                                   event_at(project, datetime(year, 2, 28, tzinfo=UTC)))
    rollups_of(project)
    # Cutoffs on 25 August: acme-api (180 days) late February (the 26th, the 27th in a leap year), scratch (30 days)
    # 26 July.
    now = datetime(year, 8, 25, tzinfo=UTC)

    dry = prune_activity(dry_run=True, now=now)
    assert f"would drop partition events_activityevent_p{year}01 (2 rows)" in dry.lines()
    assert f"would drop partition project_actions_p{year}01 (1 rows)" in dry.lines()
    assert ActivityEvent.objects.filter(pk__in=[e.pk for e in jan]).count() == 2

    layout = partitions._layout("events_activityevent", connection)  # the feed's cached list names January
    assert (datetime(year, 1, 1, tzinfo=UTC), datetime(year, 2, 1, tzinfo=UTC)) in layout

    plan = prune_activity(now=now)

    assert (datetime(year, 1, 1, tzinfo=UTC), datetime(year, 2, 1, tzinfo=UTC)) not in partitions._layout(
        "events_activityevent", connection)  # forgotten with the drop, not 10 minutes later
    names = {n for n, _, _ in monthly_partitions("events_activityevent")}
    assert f"events_activityevent_p{year}01" not in names and f"events_activityevent_p{year}02" in names
    assert not ActivityEvent.objects.filter(pk__in=[e.pk for e in jan]).exists()
    assert not ProjectAction.objects.filter(pk=jan_action.pk).exists()
    # February stays (acme-api keeps its rows from late February on); scratch's rows and acme-api's older ones go.
    assert set(ActivityEvent.objects.filter(created_at__year=year).values_list("pk", flat=True)) == {feb_long_kept.pk}
    assert not ActivityEvent.objects.filter(pk__in=[feb_short.pk, feb_long_old.pk]).exists()
    assert f"deleted 1 rows of project scratch from events_activityevent_p{year}02" in " ".join(plan.lines())
    assert WorkflowDailyStats.objects.filter(project=project).count() == 1
    assert ChunkPerformance.objects.filter(project=project).count() == 1


# --- the setting on the Settings page -------------------------------------------------------------------


def retention_url(project):
    return f"/projects/{project.slug}/settings/retention/"


def test_owner_sets_retention(client_for, project, owner):
    response = client_for(owner).post(retention_url(project), {"retention_days": "30"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.retention_days == 30


def test_owner_sets_retention_with_htmx_and_sees_the_card(client_for, project, owner):
    response = client_for(owner).post(retention_url(project), {"retention_days": "3650"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "older than 3,650 days will be removed" in response.content.decode()
    project.refresh_from_db()
    assert project.retention_days == 3650


@pytest.mark.parametrize("value, message", [
    ("0", "at least 1 day"),
    ("3651", "at most 3,650 days"),
    ("99999999999999999999999", "at most 3,650 days"),
    ("-5", "at least 1 day"),
    ("ninety", "whole number"),
    ("1.5", "whole number"),
    ("", "how many days"),
    ("٣٠\u200b", "whole number"),
])
def test_bad_retention_is_a_422_saying_what_was_wrong(client_for, project, owner, value, message):
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client_for(owner).post(retention_url(project), {"retention_days": value}, **htmx)
        assert response.status_code == 422
        assert message in response.content.decode()
    project.refresh_from_db()
    assert project.retention_days == 180


def test_retention_is_the_owners_to_change(client_for, project, editor, viewer, outsider):
    assert client_for(viewer).post(retention_url(project), {"retention_days": "30"}).status_code == 403
    assert client_for(editor).post(retention_url(project), {"retention_days": "30"}).status_code == 403
    assert client_for(outsider).post(retention_url(project), {"retention_days": "30"}).status_code == 404
    project.refresh_from_db()
    assert project.retention_days == 180


def test_settings_page_shows_the_retention(client_for, project, viewer):
    page = client_for(viewer).get(f"/projects/{project.slug}/settings/").content.decode()
    assert "180 days" in page and "Only owners can change how long activity is kept" in page
