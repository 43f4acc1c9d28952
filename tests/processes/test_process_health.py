"""/healthz?deep=1 reports each worker role's heartbeat, so an orchestrator can restart a dead or stuck worker;
the monitoring pages say when no alert channel is configured; the Chromium set-up for `make test`."""

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from processes.models import ProcessHeartbeat, Role

ROOT = Path(__file__).resolve().parents[2]


def beat(process_id, role, seconds_ago=0, task_started_ago=None, deadline=None):
    now = timezone.now()
    started = now - timedelta(seconds=task_started_ago) if task_started_ago else None
    return ProcessHeartbeat.objects.create(
        process_id=process_id, role=role, hostname="node-1", pid=100, beat_at=now - timedelta(seconds=seconds_ago),
        task_name="processes.jobs.monitor_pass" if task_started_ago else "", task_id="7f3a" if task_started_ago else "",
        task_started_at=started, task_deadline_at=started + timedelta(seconds=deadline) if started and deadline else None,
    )


@pytest.fixture
def deep(client_for, staff):
    def get():
        return client_for(staff).get("/healthz?deep=1")

    return get


@pytest.mark.django_db
def test_deep_health_reports_live_workers_and_scheduler(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    beat("ah-w-1", Role.WORKER, seconds_ago=3)
    beat("ah-w-2", Role.WORKER, seconds_ago=5, task_started_ago=4)
    beat("ah-s-1", Role.SCHEDULER, seconds_ago=1)
    response = deep()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["processes"]["worker"]["status"] == "ok"
    assert body["processes"]["worker"]["alive"] == 2
    assert body["processes"]["scheduler"]["alive"] == 1
    busy = next(p for p in body["processes"]["worker"]["processes"] if p["id"] == "ah-w-2")
    assert busy["task"] == "processes.jobs.monitor_pass"


@pytest.mark.django_db
def test_deep_health_is_503_when_every_worker_stopped_beating(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    beat("ah-w-1", Role.WORKER, seconds_ago=120)
    beat("ah-s-1", Role.SCHEDULER, seconds_ago=1)
    response = deep()
    assert response.status_code == 503
    assert response.json()["status"] == "processes_down"
    assert response.json()["processes"]["worker"] | {"processes": None} == {
        "alive": 0, "dead": 1, "stuck": 0, "status": "down", "processes": None}


@pytest.mark.django_db
def test_deep_health_reports_a_worker_stuck_in_one_task(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    settings.WORKER_STUCK_SECONDS = 600
    beat("ah-w-1", Role.WORKER, seconds_ago=2, task_started_ago=3600)
    body = deep().json()
    assert body["status"] == "processes_down"
    assert body["processes"]["worker"]["stuck"] == 1
    assert body["processes"]["worker"]["processes"][0]["stuck"] is True


@pytest.mark.django_db
def test_a_worker_is_stuck_once_its_task_runs_past_the_tasks_own_deadline_and_health_says_which(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    with time_machine.travel(timezone.now(), tick=False):  # the sentence says "95 s": the clock stands still
        beat("ah-w-1", Role.WORKER, seconds_ago=2, task_started_ago=95, deadline=30)  # a pass: 3 × its 10 s interval
        response = deep()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "processes_down"
    [worker] = body["processes"]["worker"]["processes"]
    assert worker["stuck"] is True and worker["task"] == "processes.jobs.monitor_pass" and worker["task_id"] == "7f3a"
    assert worker["task_deadline_seconds"] == 30 and worker["task_seconds"] >= 95
    assert body["stuck_tasks"] == [
        "worker ah-w-1 on node-1 (pid 100) has been running processes.jobs.monitor_pass (task 7f3a) for 95 s, past "
        "its 30 s deadline."]


@pytest.mark.django_db
def test_a_task_within_its_deadline_is_not_stuck(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    beat("ah-w-1", Role.WORKER, seconds_ago=2, task_started_ago=20, deadline=30)
    body = deep().json()
    assert body["status"] == "ok" and body["stuck_tasks"] == []
    assert body["processes"]["worker"]["processes"][0]["stuck"] is False
    assert body["processes"]["worker"]["processes"][0]["problem"] is None


def test_each_task_knows_its_deadline(settings):
    from django.tasks import task

    from processes import jobs
    from processes.workers import task_deadline_seconds

    settings.MONITOR_INTERVAL_SECONDS, settings.MONITOR_PASS_DEADLINE_FACTOR = 10, 3
    settings.TASK_DEADLINE_SECONDS = 900
    assert task_deadline_seconds(jobs.monitor_pass) == 30
    assert task_deadline_seconds(jobs.prune_activity) == 900
    assert task_deadline_seconds(task(_plain)) == 900
    settings.WORKER_STUCK_SECONDS = 600  # the former name still decides, where a settings module sets it
    assert task_deadline_seconds(jobs.prune_activity) == 600


def _plain():
    return None


@pytest.mark.django_db
def test_one_dead_worker_beside_a_live_one_keeps_the_role_up(deep, settings):
    settings.HEARTBEAT_SECONDS = 10
    beat("ah-w-1", Role.WORKER, seconds_ago=300)
    beat("ah-w-2", Role.WORKER, seconds_ago=1)
    body = deep().json()
    assert body["status"] == "ok"
    assert body["processes"]["worker"]["dead"] == 1


@pytest.mark.django_db
def test_monitoring_pages_say_plainly_when_no_alert_channel_is_configured(client_for, manager, settings):
    settings.MONITORING_NOTIFICATIONS = []
    for page in ["/monitoring/", "/monitoring/notifications/"]:
        assert "No alert channel is configured" in client_for(manager).get(page).content.decode()


@pytest.mark.django_db
def test_monitoring_pages_do_not_warn_when_alerts_have_somewhere_to_go(client_for, manager, settings):
    settings.MONITORING_NOTIFICATIONS = [{"channel": "email", "target": "oncall@example.com"}]
    assert "No alert channel is configured" not in client_for(manager).get("/monitoring/").content.decode()


def ensure_chromium(**env):
    return subprocess.run([str(ROOT / "tools" / "ensure-chromium")], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=30)


def test_make_test_leaves_an_installed_chromium_alone(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    result = ensure_chromium(CHROMIUM_PATH=str(fake))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_test_installs_debians_chromium_when_root_and_missing(tmp_path):
    result = ensure_chromium(CHROMIUM_PATH=str(tmp_path / "absent"), ENSURE_CHROMIUM_UID="0", ENSURE_CHROMIUM_DRY_RUN="1")
    assert result.returncode == 0
    assert result.stdout.strip() == "would run: apt-get update -qq && apt-get install -y -qq chromium"


def test_make_test_without_root_says_in_one_line_what_to_run(tmp_path):
    result = ensure_chromium(CHROMIUM_PATH=str(tmp_path / "absent"), ENSURE_CHROMIUM_UID="1000")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sudo apt-get install -y chromium" in result.stderr


def test_demo_health_checks_follow_the_port_the_demo_serves_on(monkeypatch):
    from monitoring.demo import demo_checks

    monkeypatch.setenv("PORT", "8231")
    urls = [url for _, _, url, _ in demo_checks() if "127.0.0.1:9/" not in url]
    assert urls and all(url.startswith("http://127.0.0.1:8231/") for url in urls)
    monkeypatch.delenv("PORT")
    assert all(url.startswith("http://127.0.0.1:8000/") for url in [u for _, _, u, _ in demo_checks()][:2])
