"""Monitoring pages: managers only (403 for everyone else), full pages and htmx fragments, forms that explain."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from monitoring.models import (
    HealthCheck,
    MonitoringReport,
    NotificationLog,
    WorkflowExecution,
    WorkflowSchedule,
)
from monitoring.reports import build_report
from monitoring.runs import finish_run, start_run
from tests.conftest import make_user


@pytest.fixture
def data(project):
    now = timezone.now()
    for i, status in enumerate(["FAILED", "SUCCESS", "SUCCESS", "FAILED"]):
        start = now - timedelta(hours=i * 3 + 1)
        start_run(project, run_id=f"run-{i}", workflow_name="nightly" if i < 2 else "hourly", started_at=start)
        finish_run(project, f"run-{i}", status=status, completed_at=start + timedelta(seconds=10 * (i + 1)),
                   error_message="disk full" if status == "FAILED" else None)
    WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="0 2 * * *")
    check = HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/")
    report = build_report(now - timedelta(days=1), now, notify=False)
    NotificationLog.objects.create(event_type="workflow_failed", channel="slack", target="http://127.0.0.1:9/",
                                   subject="Workflow failed: nightly", text="m", delivery_id="k", delivery_key="k", source="report",
                                   source_id=report.report_id)
    return {"report": report, "check": check, "run": WorkflowExecution.objects.get(run_id="run-0")}


def all_urls(data):
    schedule = WorkflowSchedule.objects.get()
    return [
        ("get", reverse("monitoring:overview")),
        ("get", reverse("monitoring:schedules")),
        ("post", reverse("monitoring:schedules")),
        ("post", reverse("monitoring:schedule_toggle", args=[schedule.schedule_id])),
        ("post", reverse("monitoring:schedule_delete", args=[schedule.schedule_id])),
        ("get", reverse("monitoring:health")),
        ("post", reverse("monitoring:health")),
        ("get", reverse("monitoring:health_detail", args=[data["check"].pk])),
        ("get", reverse("monitoring:health_edit", args=[data["check"].pk])),
        ("post", reverse("monitoring:health_edit", args=[data["check"].pk])),
        ("post", reverse("monitoring:health_toggle", args=[data["check"].pk])),
        ("post", reverse("monitoring:health_delete", args=[data["check"].pk])),
        ("get", reverse("monitoring:reports")),
        ("post", reverse("monitoring:reports")),
        ("get", reverse("monitoring:report_detail", args=[data["report"].report_id])),
        ("get", reverse("monitoring:run_detail", args=[data["run"].pk])),
        ("get", reverse("monitoring:notifications")),
    ]


@pytest.mark.parametrize("role", ["owner", "viewer", "outsider", "staff_not_manager"])
def test_non_managers_get_403_everywhere_and_change_nothing(client_for, data, role, request):
    user = make_user("stu", is_staff=True) if role == "staff_not_manager" else request.getfixturevalue(role)
    client = client_for(user)
    for method, url in all_urls(data):
        assert getattr(client, method)(url, {"hours": 1}).status_code == 403, url
    assert WorkflowSchedule.objects.count() == 1 and MonitoringReport.objects.count() == 1
    assert HealthCheck.objects.count() == 1


def test_anonymous_is_sent_to_login(client, data):
    for method, url in all_urls(data):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_managers_permission_holders_and_superusers_see_every_page(client_for, data, manager, staff):
    holder = make_user("perm")
    holder.user_permissions.add(Permission.objects.get(codename="view_monitoring"))
    for user in (manager, holder, staff):
        client = client_for(user)
        for method, url in all_urls(data):
            if method == "get":
                assert client.get(url).status_code == 200, (user, url)


def test_overview_shows_per_workflow_status_rates_durations_and_trend(client_for, manager, data):
    response = client_for(manager).get(reverse("monitoring:overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-workflow="nightly"' in html and 'data-workflow="hourly"' in html
    assert "disk full" in html  # the failing workflow's last error
    assert "50.0%" in html  # nightly: one of two runs succeeded
    assert '<svg class="chart mon-spark"' in html and 'class="bar-failed"' in html
    assert "0 2 * * *" in html  # its schedule
    assert 'id="mon-changes"' in html  # live: the cheap "changed since?" poll


def test_overview_htmx_poll_returns_only_the_live_fragment(client_for, manager, data):
    response = client_for(manager).get(reverse("monitoring:overview"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="live")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"')
    assert "<html" not in html


def test_overview_rows_put_failing_workflows_first(client_for, manager, data):
    html = client_for(manager).get(reverse("monitoring:overview")).content.decode()
    # nightly's last run failed, hourly's succeeded
    assert html.index('data-workflow="nightly"') < html.index('data-workflow="hourly"')


def test_invalid_cron_is_explained_and_nothing_is_saved(client_for, manager, project):
    response = client_for(manager).post(reverse("monitoring:schedules"), {
        "project": project.pk, "workflow_name": "wf", "cron_expression": "61 * * * *", "timezone": "UTC",
        "grace_period_seconds": 60,
    })
    assert response.status_code == 422
    assert "The minute field &#x27;61&#x27; is not valid" in response.content.decode()
    assert not WorkflowSchedule.objects.exists()


def test_valid_schedule_is_created_with_its_next_run(client_for, manager, project):
    response = client_for(manager).post(reverse("monitoring:schedules"), {
        "project": project.pk, "workflow_name": "wf", "cron_expression": "0 6 * * 1-5",
        "timezone": "Europe/Berlin", "grace_period_seconds": 600,
    })
    assert response.status_code == 302
    schedule = WorkflowSchedule.objects.get()
    assert schedule.next_run_at is not None and schedule.next_run_at > timezone.now()
    assert schedule.timezone == "Europe/Berlin"


def test_pausing_a_schedule_clears_next_run_and_resuming_recomputes_it(client_for, manager, project):
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="wf", cron_expression="*/5 * * * *")
    client = client_for(manager)
    client.post(reverse("monitoring:schedule_toggle", args=[schedule.schedule_id]))
    schedule.refresh_from_db()
    assert (schedule.status, schedule.next_run_at) == ("PAUSED", None)
    client.post(reverse("monitoring:schedule_toggle", args=[schedule.schedule_id]))
    schedule.refresh_from_db()
    assert schedule.status == "ACTIVE" and schedule.next_run_at is not None and schedule.next_run_at > timezone.now()


def test_health_check_form_creates_a_due_check_and_rejects_bad_values(client_for, manager):
    client = client_for(manager)
    bad = client.post(reverse("monitoring:health"), {
        "check_name": "API", "url": "not a url", "method": "GET", "expected_status": 99, "timeout_ms": 10,
        "interval_seconds": 1,
    })
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "Enter an http:// or https:// URL" in html and "HTTP status code" in html and "100 and 60000" in html
    ok = client.post(reverse("monitoring:health"), {
        "check_name": "Public API", "url": "http://127.0.0.1:9/health", "method": "HEAD", "expected_status": 204,
        "timeout_ms": 2000, "interval_seconds": 30,
    })
    assert ok.status_code == 302
    check = HealthCheck.objects.get()
    assert (check.check_id, check.method, check.paused, check.environment) == ("public-api", "HEAD", False, "production")
    duplicate = client.post(reverse("monitoring:health"), {
        "check_name": "Public API", "url": "http://127.0.0.1:9/", "method": "GET", "expected_status": 200,
        "timeout_ms": 2000, "interval_seconds": 30,
    })
    assert duplicate.status_code == 422 and "already exists" in duplicate.content.decode()


def test_generate_report_on_demand(client_for, manager, data):
    response = client_for(manager).post(reverse("monitoring:reports"), {"hours": 24})
    report = MonitoringReport.objects.filter(requested_by=manager).get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{report.report_id}/")
    detail = client_for(manager).get(response["Location"]).content.decode()
    assert "Per workflow" in detail and "nightly" in detail
    assert client_for(manager).post(reverse("monitoring:reports"), {"hours": 0}).status_code == 422


def test_notification_log_filters_by_delivery_status(client_for, manager, data):
    client = client_for(manager)
    assert "Workflow failed: nightly" in client.get(reverse("monitoring:notifications")).content.decode()
    assert "Workflow failed: nightly" in client.get(reverse("monitoring:notifications"), {"delivery_status": "pending"}).content.decode()
    assert "Workflow failed: nightly" not in client.get(reverse("monitoring:notifications"), {"delivery_status": "succeeded"}).content.decode()
    assert client.get(reverse("monitoring:notifications"), {"delivery_status": "BOGUS"}).status_code == 400


def test_unknown_report_run_and_check_are_404(client_for, manager, db):
    client = client_for(manager)
    assert client.get(reverse("monitoring:report_detail", args=["rpt_nope"])).status_code == 404
    assert client.get(reverse("monitoring:run_detail", args=[999])).status_code == 404
    assert client.get(reverse("monitoring:health_detail", args=[999])).status_code == 404
    assert client.get(reverse("monitoring:health_edit", args=[999])).status_code == 404
    assert client.get(reverse("monitoring:removed_check_history", args=["nope"])).status_code == 404


def test_admin_lists_every_monitoring_model(client_for, staff, data):
    client = client_for(staff)
    models = list(apps.get_app_config("monitoring").get_models())
    assert len(models) >= 7  # the six tables and the daily rollup; a new model must join the admin too
    for model in models:
        url = reverse(f"admin:monitoring_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, model.__name__


def test_compact_relative_times_and_rates():
    from monitoring.templatetags.monitoring_tags import ago, duration, percent

    now = timezone.now()
    assert ago(now - timedelta(seconds=10), now) == "now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now + timedelta(hours=3, minutes=5), now) == "in 3 h"
    assert ago(now - timedelta(days=2), now) == "2 d ago"
    assert [duration(850), duration(12_300), duration(125_000), duration(3_720_000)] == ["850 ms", "12.3 s", "2 m 05 s", "1 h 02 m"]
    assert (percent(97.46), percent(None)) == ("97.5%", "—")
