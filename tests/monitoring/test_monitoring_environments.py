"""Environments on every monitoring page and endpoint; health checks as configuration plus results."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from monitoring.daemon import Monitor
from monitoring.models import (
    HealthCheck,
    NotificationLog,
    SystemHealthCheck,
    WorkflowExecution,
    WorkflowSchedule,
)
from monitoring.runs import finish_run, start_run
from monitoring.stats import workflow_overview
from tests.api_fixtures import *  # noqa: F403

START = "/monitoring/runs/start"


def _run(project, run_id, name, environment, status="SUCCESS", minutes_ago=30):
    start = timezone.now() - timedelta(minutes=minutes_ago)
    start_run(project, run_id=run_id, workflow_name=name, started_at=start, environment=environment)
    return finish_run(project, run_id, status=status, completed_at=start + timedelta(seconds=5))


@pytest.fixture
def two_environments(project):
    _run(project, "p1", "deploy", "production")
    _run(project, "s1", "deploy", "staging", status="FAILED")
    WorkflowSchedule.objects.create(project=project, workflow_name="deploy", cron_expression="0 * * * *")
    WorkflowSchedule.objects.create(project=project, workflow_name="deploy", environment="staging",
                                    cron_expression="30 * * * *")
    HealthCheck.objects.create(check_id="prod-api", check_name="Prod API", url="http://127.0.0.1:9/")
    HealthCheck.objects.create(check_id="staging-api", check_name="Staging API", url="http://127.0.0.1:9/",
                               environment="staging")
    NotificationLog.objects.create(event_type="workflow_failed", channel="slack", target="http://127.0.0.1:9/",
                                   subject="Workflow failed: deploy [staging]", text="m", delivery_id="k", delivery_key="k", source="run",
                                   payload={"environment": "staging"})


def test_api_run_without_environment_is_production_and_a_named_one_is_kept(api_as, write_token):
    api = api_as(write_token)
    assert api.post(START, {"run_id": "a", "workflow_name": "w"}).json()["environment"] == "production"
    assert api.post(START, {"run_id": "b", "workflow_name": "w", "environment": "Staging"}).json()["environment"] == "staging"
    assert WorkflowExecution.objects.get(run_id="b").environment == "staging"


def test_api_rejects_a_malformed_environment_with_422(api_as, write_token):
    response = api_as(write_token).post(START, {"run_id": "a", "workflow_name": "w", "environment": "prod env!"})
    assert response.status_code == 422 and "environment" in response.content.decode()
    assert not WorkflowExecution.objects.exists()


def test_repeated_start_in_another_environment_is_a_conflict(api_as, write_token):
    api = api_as(write_token)
    api.post(START, {"run_id": "a", "workflow_name": "w"})
    assert api.post(START, {"run_id": "a", "workflow_name": "w", "environment": "staging"}).status_code == 409


def test_overview_shows_one_environment_or_all(client_for, manager, two_environments):
    client = client_for(manager)
    everything = client.get(reverse("monitoring:overview")).content.decode()
    assert 'data-environment="production"' in everything and 'data-environment="staging"' in everything
    staging = client.get(reverse("monitoring:overview"), {"environment": "staging"}).content.decode()
    assert 'data-environment="staging"' in staging and 'data-environment="production"' not in staging
    assert [(w.environment, w.state) for w in workflow_overview(environment="staging")] == [("staging", "failing")]


@pytest.mark.parametrize("page", ["overview", "schedules", "health", "reports", "notifications"])
def test_every_list_page_filters_by_environment_and_refuses_an_unknown_one(client_for, manager, two_environments, page):
    client = client_for(manager)
    assert client.get(reverse(f"monitoring:{page}"), {"environment": "staging"}).status_code == 200
    assert client.get(reverse(f"monitoring:{page}"), {"environment": "nowhere"}).status_code == 400


def test_schedules_and_health_pages_list_only_the_chosen_environment(client_for, manager, two_environments):
    client = client_for(manager)
    schedules = client.get(reverse("monitoring:schedules"), {"environment": "staging"}).content.decode()
    assert 'data-environment="staging"' in schedules and 'data-environment="production"' not in schedules
    health = client.get(reverse("monitoring:health"), {"environment": "staging"}).content.decode()
    assert "Staging API" in health and "Prod API" not in health
    notes = client.get(reverse("monitoring:notifications"), {"environment": "production"}).content.decode()
    assert "Workflow failed: deploy [staging]" not in notes


def test_a_staging_run_counts_for_the_staging_schedule_only(project, two_environments):
    _run(project, "s2", "deploy", "staging", minutes_ago=1)
    counts = dict(WorkflowSchedule.objects.values_list("environment", "run_count"))
    assert counts == {"production": 0, "staging": 1}


def test_non_manager_is_denied_the_filtered_pages(client_for, viewer, two_environments):
    assert client_for(viewer).get(reverse("monitoring:overview"), {"environment": "staging"}).status_code == 403


# --- health checks: configuration plus results -------------------------------------------------------------


def test_ftp_url_is_refused_with_a_clear_message(client_for, manager):
    response = client_for(manager).post(reverse("monitoring:health"), {
        "check_name": "Files", "url": "ftp://127.0.0.1/file", "method": "GET", "expected_status": 200,
        "timeout_ms": 1000, "interval_seconds": 60,
    })
    assert response.status_code == 422
    assert "Enter an http:// or https:// URL." in response.content.decode()
    assert not HealthCheck.objects.exists()


def test_a_check_with_many_results_is_listed_once_in_the_admin(client_for, staff):
    check = HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/")
    SystemHealthCheck.objects.bulk_create([
        SystemHealthCheck(health_check=check, check_id="api", check_name="API", status="HEALTHY",
                          checked_at=timezone.now() - timedelta(minutes=i)) for i in range(8)
    ])
    page = client_for(staff).get(reverse("admin:monitoring_healthcheck_changelist")).content.decode()
    assert page.count('class="field-check_id"') == 1
    history = client_for(staff).get(reverse("admin:monitoring_systemhealthcheck_changelist")).content.decode()
    assert history.count('class="field-check_id"') == 8


def test_removing_a_check_keeps_its_results(client_for, manager, http_server_factory=None):
    check = HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/", timeout_ms=200)
    Monitor(workers=1, daily_reports=False).run_due_checks()
    assert client_for(manager).post(reverse("monitoring:health_delete", args=[check.pk])).status_code == 302
    result = SystemHealthCheck.objects.get()
    assert (result.check_id, result.health_check, result.status) == ("api", None, "UNHEALTHY")
    assert not HealthCheck.objects.filter(pk=check.pk).exists()
    history = client_for(manager).get(reverse("monitoring:removed_check_history", args=["api"]))
    assert history.status_code == 200 and "api (removed)" in history.content.decode()


def test_paused_check_is_not_run(db):
    HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/", paused=True)
    assert Monitor(workers=1, daily_reports=False).run_due_checks() == 0


@pytest.mark.django_db(transaction=True)
def test_migration_moves_each_checks_configuration_to_its_own_row():
    executor = MigrationExecutor(connection)
    before = [("monitoring", "0002_workflow_daily_stats")]
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps.get_model("monitoring", "SystemHealthCheck")
    now = timezone.now()
    for i in range(3):
        old.objects.create(check_id="api", check_name="API", url="https://api.example/h", status="HEALTHY",
                           checked_at=now - timedelta(minutes=i + 1), due_at=now, interval_seconds=30)
    old.objects.create(check_id="api", check_name="API", url="https://api.example/h", status="PAUSED", due_at=now,
                       interval_seconds=30, alert_state="FAILING")
    old.objects.create(check_id="gone", check_name="Gone", url="https://gone.example/", status="UNHEALTHY",
                       checked_at=now, due_at=now)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("monitoring"))
    check = HealthCheck.objects.get()
    assert (check.check_id, check.url, check.interval_seconds, check.paused, check.alert_state) == (
        "api", "https://api.example/h", 30, True, "FAILING")
    assert SystemHealthCheck.objects.filter(health_check=check).count() == 3
    assert SystemHealthCheck.objects.filter(check_id="gone", health_check__isnull=True).count() == 1
