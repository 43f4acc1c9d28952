"""A stale tab's Remove finds the thing gone: the row leaves the screen (htmx) with a notice, never a 404 that the
browser logs; the retention card confirms only a valid value that would remove something, saying how much and
when."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from events.models import ActivityEvent, ProjectAction
from monitoring.models import HealthCheck, WorkflowSchedule
from processes.models import PeriodicJob
from projects.models import Membership

HTMX = {"HX-Request": "true"}
NOW = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)


def assert_row_leaves(response, row, words):
    assert response.status_code == 200
    assert response["HX-Reswap"] == "delete" and response["HX-Retarget"] == f"closest {row}"
    assert words in json.loads(response["HX-Trigger"])["ah:notice"]


def test_removing_a_member_another_tab_already_removed_takes_the_row_away(client_for, project, owner, editor):
    member = Membership.objects.get(project=project, user=editor)
    member_id = member.pk
    member.delete()
    client = client_for(owner)
    for name, data in (("projects:member_remove", {}), ("projects:member_role", {"role": "viewer"})):
        url = reverse(name, args=[project.slug, member_id])
        assert_row_leaves(client.post(url, data, headers=HTMX), "tr", "already been removed")
        plain = client.post(url, data)  # without htmx: back to the page, with the same sentence
        assert plain.status_code == 302 and plain["Location"] == reverse("projects:settings", args=[project.slug])


def test_a_stale_remove_is_still_refused_to_those_who_may_not_remove(client_for, project, viewer, outsider, editor):
    member = Membership.objects.get(project=project, user=editor)
    url = reverse("projects:member_remove", args=[project.slug, member.pk])
    assert client_for(viewer).post(url, headers=HTMX).status_code == 403
    assert client_for(outsider).post(url, headers=HTMX).status_code == 404
    assert Membership.objects.filter(pk=member.pk).exists()


def test_removing_a_deleted_schedule_or_health_check_takes_its_row_away(client_for, manager, project):
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="x", cron_expression="0 * * * *")
    check = HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/")
    schedule_id, check_pk = schedule.schedule_id, check.pk
    schedule.delete()
    check.delete()
    client = client_for(manager)
    assert_row_leaves(client.post(reverse("monitoring:schedule_delete", args=[schedule_id]), headers=HTMX), "tr",
                      "already been deleted")
    assert_row_leaves(client.post(reverse("monitoring:health_delete", args=[check_pk]), headers=HTMX), "article",
                      "already been removed")
    assert client.post(reverse("monitoring:schedule_toggle", args=[schedule_id])).status_code == 302


# --- retention ----------------------------------------------------------------------------------------------------


@pytest.fixture
def old_activity(project):
    with time_machine.travel(NOW, tick=False):
        for days in (40, 41):
            ActivityEvent.objects.create(project=project, event_type="INDEXING_COMPLETED", entity_type="indexing",
                                         title="old", status="COMPLETED", created_at=NOW - timedelta(days=days))
        ActivityEvent.objects.create(project=project, event_type="INDEXING_COMPLETED", entity_type="indexing",
                                     title="new", status="COMPLETED", created_at=NOW - timedelta(days=1))
        ProjectAction.objects.create(project=project, action_type="deployment", created_at=NOW - timedelta(days=50))
        PeriodicJob.objects.update_or_create(name="prune-activity",
                                             defaults={"next_run_at": NOW + timedelta(hours=3, minutes=10)})
        yield


def retention(client, project, **data):
    with time_machine.travel(NOW, tick=False):
        return client.post(reverse("projects:retention_update", args=[project.slug]), data, headers=HTMX)


def test_a_shorter_retention_is_confirmed_first_with_what_goes_and_when(client_for, project, owner, old_activity):
    client = client_for(owner)
    response = retention(client, project, retention_days="30")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="retention-confirm"' in html
    assert ("Keeping 30 days removes 2 activity events and 1 audit action created before 20 Apr 2026 09:00 UTC, "
            "at the next daily pruning, Wed 20 May 12:10 UTC (in about 3 hours)") in html
    project.refresh_from_db()
    assert project.retention_days == 180  # nothing saved before the confirmation
    confirmed = retention(client, project, retention_days="30", confirm="1")
    assert confirmed.status_code == 200 and "older than 30 days will be removed" in confirmed.content.decode()
    project.refresh_from_db()
    assert project.retention_days == 30


def test_an_invalid_retention_gets_no_confirmation(client_for, project, owner, old_activity):
    response = retention(client_for(owner), project, retention_days="0")
    assert response.status_code == 422
    html = response.content.decode()
    assert "at least 1 day" in html and "retention-confirm" not in html and "removes" not in html


def test_a_retention_that_removes_nothing_saves_without_asking(client_for, project, owner, old_activity):
    response = retention(client_for(owner), project, retention_days="60")
    assert "retention-confirm" not in response.content.decode()
    project.refresh_from_db()
    assert project.retention_days == 60


def test_without_a_scheduled_pruning_the_card_says_within_a_day(client_for, project, owner, old_activity):
    PeriodicJob.objects.all().delete()
    html = retention(client_for(owner), project, retention_days="30").content.decode()
    assert "at the next daily pruning, within a day" in html
