"""The whole system as `make demo` runs it (honcho + Procfile: web, worker, scheduler), started by the test: a
manager opens the monitoring overview and a health-check result appears with nothing else run by hand."""

import os
import signal
import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from tests.system.processes import free_port, wait_for

SETUP = """
from django.contrib.auth.models import Group, User
from django.utils import timezone
from monitoring.models import HealthCheck
user = User.objects.create_user("maya", password="pw-maya")
user.groups.add(Group.objects.get_or_create(name="managers")[0])
HealthCheck.objects.create(check_id="own-login", check_name="Own login page", url="{origin}/login/",
                           expected_status=200, interval_seconds=60, due_at=timezone.now())
"""


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_freshly_started_system_shows_a_health_check_result_on_its_own(system, page):
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    system.python(SETUP.format(origin=origin))
    bin_dir = Path(sys.executable).parent
    honcho = system.start(str(bin_dir / "honcho"), "start", "--port", str(port), name="honcho", PORT=str(port),
                          PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", MONITOR_INTERVAL_SECONDS="2",
                          MONITORING_EMAIL_TO="oncall@example.com")
    wait_for(lambda: _answers(f"{origin}/healthz"), timeout=90, what="the web process to answer")

    page.goto(f"{origin}/login/")
    page.get_by_label("Username").fill("maya")
    page.get_by_label("Password").fill("pw-maya")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{origin}/monitoring/")
    expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
    page.get_by_role("link", name="Health checks").click()
    check = page.locator('[data-check="own-login"]')
    expect(check).to_be_visible()
    # The scheduler enqueued a monitoring pass, a worker ran it, the page's polling shows the result.
    expect(check.get_by_text("Healthy")).to_be_visible(timeout=60_000)
    expect(check).to_contain_text("200 in")

    assert system.stop(honcho, signal.SIGINT) == 130  # Ctrl-C: honcho stops every process, then exits as interrupted
    log = system.log(honcho)
    for role in ["web", "worker", "scheduler"]:
        assert f"{role}.1 stopped (rc=0)" in log, log  # each stopped by itself, none killed
    assert "scheduler stopped" in log and "worker stopped" in log, log
