import io
import os
import subprocess
import sys
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management import call_command

from projects.models import Membership, Project

ROOT = Path(__file__).resolve().parents[2]


def test_production_mode_passes_check_deploy(tmp_path):
    # Model checks read the database's features (GeneratedField), so the subprocess gets a database it can open:
    # the suite's DATABASE_URL names a database that only exists under its test_ prefix.
    env = {**os.environ, "PRODUCTION": "1", "SECRET_KEY": "x" * 64 + "-a-long-random-production-key",
           "ALLOWED_HOSTS": "activityhub.example.com", "DEBUG": "", "DJANGO_ALLOW_ASYNC_UNSAFE": "",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy-check.sqlite3'}", "REDIS_URL": "redis://127.0.0.1:6379/15"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_rate_limits_would_be_counted_per_process(tmp_path):
    env = {**os.environ, "PRODUCTION": "1", "SECRET_KEY": "x" * 64 + "-a-long-random-production-key",
           "ALLOWED_HOSTS": "activityhub.example.com", "DEBUG": "", "DJANGO_ALLOW_ASYNC_UNSAFE": "",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy-check.sqlite3'}", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "activityhub.W001" in result.stderr + result.stdout


def test_the_per_process_cache_warning_says_where_sign_in_failures_are_counted_as_the_readme_does(settings):
    from activityhub.deploy_checks import cache_is_shared

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    [warning] = cache_is_shared()
    assert warning.id == "activityhub.W001"
    assert "API rate limits are counted per worker process" in warning.msg
    assert "Sign-in failures are not affected: they are counted in the database." in warning.msg
    assert "sign-in attempts are counted per worker" not in warning.msg
    readme = (ROOT / "README.md").read_text()
    assert "counted in the database (django-axes), so every worker and node agrees" in readme
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    assert cache_is_shared() == []


def test_the_readme_says_only_the_trusted_proxies_may_reach_the_apps_port():
    readme = (ROOT / "README.md").read_text()
    production = readme[readme.index("In production: `PRODUCTION=1"):readme.index("## Layout")]
    assert "The app's port must then accept connections only from the trusted proxies" in production
    assert "a client that reaches gunicorn directly writes\nits own `X-Forwarded-For`" in production


def test_production_mode_refuses_to_start_without_secret_key():
    env = {**os.environ, "PRODUCTION": "1", "ALLOWED_HOSTS": "x.example.com"}
    env.pop("SECRET_KEY", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_demo_data_is_idempotent_and_follows_the_products_own_rules(db):
    call_command("demo_data", stdout=io.StringIO())
    counts = (User.objects.count(), Project.objects.count(), Membership.objects.count())
    call_command("demo_data", stdout=io.StringIO())
    assert (User.objects.count(), Project.objects.count(), Membership.objects.count()) == counts
    owner = User.objects.get(username="owner")
    assert owner.check_password("demo")
    assert Membership.objects.get(project__slug="acme-api", user=owner).role == "owner"
    assert Membership.objects.get(project__slug="acme-api", user__username="viewer").role == "viewer"
    assert not Membership.objects.filter(user__username="outsider").exists()
    assert User.objects.get(username="manager").groups.filter(name="managers").exists()
    assert User.objects.get(username="admin").is_superuser
    assert Membership.objects.get(project__slug="acme-api", user__username="editor").role == "editor"
    assert_demo_follows_the_products_own_rules()


def test_a_missing_page_shows_the_products_404_not_djangos_technical_page(client_for, owner, settings):
    settings.DEBUG = False  # as `make demo` and production run
    response = client_for(owner).get("/projects/no-such-project/")
    page = response.content.decode()
    assert response.status_code == 404 and "There is nothing here" in page and "Back to home" in page
    assert "Using the URLconf" not in page and "Page not found (404)" not in page


def test_a_server_error_shows_the_products_500_page(rf, settings):
    from django.views import defaults

    settings.DEBUG = False
    response = defaults.server_error(rf.get("/"))
    page = response.content.decode()
    assert response.status_code == 500 and "Something went wrong on our side" in page
    assert "Server Error (500)" not in page  # Django's bare fallback when no 500.html exists


def assert_demo_follows_the_products_own_rules():
    """Runs start on their schedule's cron grid, a schedule's next run is on its grid, a delivery is sent after it
    was created: the demo never shows what the product itself could not have produced."""
    from datetime import timedelta

    from monitoring.cron import next_fire
    from monitoring.models import NotificationLog, WorkflowExecution, WorkflowSchedule

    schedules = list(WorkflowSchedule.objects.all())
    assert schedules
    for schedule in schedules:
        runs = WorkflowExecution.objects.filter(project=schedule.project, workflow_name=schedule.workflow_name)
        for started in runs.values_list("started_at", flat=True):
            on_grid = next_fire(schedule.cron_expression, schedule.timezone, started - timedelta(seconds=1))
            assert on_grid == started, f"{schedule.workflow_name} ran at {started}, not on {schedule.cron_expression}"
        if schedule.next_run_at:
            expected = next_fire(schedule.cron_expression, schedule.timezone, schedule.next_run_at - timedelta(seconds=1))
            assert expected == schedule.next_run_at, f"{schedule.workflow_name} is expected off its grid"
    sent = NotificationLog.objects.exclude(sent_at=None)
    assert sent.exists()
    assert not [row for row in sent if row.sent_at is None or row.sent_at < row.created_at]
