"""`make demo` serves the product's own error pages (DEBUG off), with its static files, not Django's technical ones."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .processes import ROOT, free_port, wait_for


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None, ""


def test_make_demo_runs_with_debug_off_unless_asked():
    recipe = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert 'DEBUG="${DEBUG:-0}"' in recipe


def test_the_procfile_serves_the_web_role_under_asgi():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "activityhub.asgi" in web and "-k uvicorn_worker.UvicornWorker" in web


# ASGI is what the Procfile runs; WSGI keeps working for whoever runs it (the live pages then poll).
SERVERS = {
    "asgi": ["activityhub.asgi", "-k", "uvicorn_worker.UvicornWorker"],
    "wsgi": ["activityhub.wsgi"],
}


@pytest.mark.parametrize("server", SERVERS)
def test_with_debug_off_the_web_process_still_serves_its_static_files(system, server):
    port = free_port()
    web = system.start(sys.executable, "-m", "gunicorn", *SERVERS[server], "--bind", f"127.0.0.1:{port}",
                       "--workers", "1", name="web", DEBUG="0")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: fetch(f"{base}/healthz")[0] == 200, timeout=30, what="the web process")
    login_status, login_page = fetch(f"{base}/login/")
    assert login_status == 200 and "/static/css/app.css" in login_page
    status, body = fetch(f"{base}/static/css/app.css")
    assert status == 200 and ".card" in body  # no collectstatic needed: whitenoise serves the static folders
    status, body = fetch(f"{base}/static/css/no-such-file.css")
    assert status == 404 and "Traceback" not in body
    assert system.stop(web) == 0
