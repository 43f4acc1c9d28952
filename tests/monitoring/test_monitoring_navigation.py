"""Navigation: the Monitoring link only for those who may open it; Home tells managers what needs them."""

from datetime import timedelta

from django.utils import timezone

from monitoring.models import HealthCheck, WorkflowSchedule
from monitoring.runs import finish_run, start_run

NAV_LINK = 'href="/monitoring/"'


def test_monitoring_link_shows_only_to_managers(client_for, manager, owner, staff):
    assert NAV_LINK in client_for(manager).get("/").content.decode()
    assert NAV_LINK in client_for(staff).get("/").content.decode()
    assert NAV_LINK not in client_for(owner).get("/").content.decode()


def test_home_shows_managers_failing_workflows_late_schedules_and_checks_down(client_for, manager, owner, project):
    now = timezone.now()
    start_run(project, run_id="r1", workflow_name="nightly-backup", started_at=now - timedelta(minutes=5))
    finish_run(project, "r1", status="FAILED", completed_at=now, error_message="disk full")
    WorkflowSchedule.objects.create(project=project, workflow_name="billing-export", cron_expression="0 5 * * *",
                                    alert_state="LATE", next_run_at=now - timedelta(hours=2))
    HealthCheck.objects.create(check_id="api", check_name="Public API", url="https://api.example/",
                               alert_state="FAILING")
    HealthCheck.objects.create(check_id="ok", check_name="Fine check", url="https://ok.example/")
    html = client_for(manager).get("/").content.decode()
    assert 'data-attention="failing"' in html and "nightly-backup" in html and "disk full" in html
    assert 'data-attention="late"' in html and "billing-export" in html
    assert 'data-attention="check-down"' in html and "Public API" in html and "Fine check" not in html
    other = client_for(owner).get("/").content.decode()
    assert "monitoring-attention" not in other and "billing-export" not in other


def test_home_says_all_is_fine_when_nothing_needs_a_manager(client_for, manager):
    assert "All workflows, schedules and health checks are fine." in client_for(manager).get("/").content.decode()
