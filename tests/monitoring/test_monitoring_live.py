"""Live updates: a cheap "anything changed since?" poll instead of re-rendering the dashboard every 15 s."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from monitoring.models import HealthCheck
from monitoring.runs import finish_run, start_run
from monitoring.stats import change_token


def _changes(client, since):
    return client.get(reverse("monitoring:changes"), {"since": since}, headers={"HX-Request": "true"})


def test_nothing_changed_is_an_empty_204(client_for, manager, project):
    client = client_for(manager)
    token = change_token()
    response = _changes(client, token)
    assert response.status_code == 204 and response.content == b"" and "HX-Trigger" not in response


def test_a_run_finishing_changes_the_token_and_triggers_one_refresh(client_for, manager, project):
    client = client_for(manager)
    now = timezone.now()
    start_run(project, run_id="r1", workflow_name="w", started_at=now - timedelta(seconds=5))
    before = change_token()
    finish_run(project, "r1", status="FAILED", completed_at=now)
    response = _changes(client, before)
    assert response.status_code == 200 and response["HX-Trigger"] == "monitoring-changed"
    new_token = change_token()
    assert new_token != before and f"since={new_token}" in response.content.decode()
    assert _changes(client, new_token).status_code == 204


def test_editing_a_check_changes_the_token(manager, project):
    before = change_token()
    HealthCheck.objects.create(check_id="api", check_name="API", url="https://api.example/")
    assert change_token() != before


def test_pages_carry_the_poller_and_no_fifteen_second_poll(client_for, manager, project):
    html = client_for(manager).get(reverse("monitoring:overview")).content.decode()
    assert 'id="mon-changes"' in html and "every 15s" not in html
    assert 'hx-trigger="monitoring-changed from:body' in html


def test_non_managers_cannot_poll(client_for, viewer):
    assert _changes(client_for(viewer), "x").status_code == 403
