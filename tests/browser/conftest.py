"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live_server."""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

# A loaded 2-core CI machine (two xdist workers, each with a browser and a live server) can take longer than
# Playwright's 5 s default to answer an htmx swap; waiting longer asserts nothing about speed.
expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# Sync Playwright keeps its event loop marked as running in the test thread for as long as it is started. Started
# once per session (pytest-playwright's default), it would stay running in an xdist worker for every later test
# there: async code in those tests (asyncio.run, an async view through the test client) would fail, and Django,
# which keys its database connections on whether a loop runs, would hand them another connection than the one
# holding the test's transaction. So Playwright and its browser live for one test module; pytest tears them down
# before the worker moves to a module of another kind.
@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as started:
        yield started
        connections.close_all()  # the connections opened while the loop ran are reachable only now


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args, browser_type):
    return lambda **options: browser_type.launch(**{**browser_type_launch_args, **options})


@pytest.fixture(scope="module")
def browser_context_args():
    return {}  # pytest-playwright's reads --device, --base-url and --video from the session's Playwright; none is used


@pytest.fixture(scope="module")
def browser(launch_browser):
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        # Fail loudly: a browser test that silently skips proves nothing.
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_console(*patterns): console errors containing one of these texts are expected by the test"
    )


@pytest.fixture(autouse=True)
def no_console_errors(request):
    """Every browser test fails on a console error, an uncaught page error or a CSP violation, on any of its pages.

    Chromium reports a CSP violation ("Refused to apply inline style…") and a failed resource load as a console
    error; a test that provokes an error response on purpose names the expected text with @allow_console(...)."""
    if "page" not in request.fixturenames:
        yield
        return
    context = request.getfixturevalue("context")
    allowed = [text for marker in request.node.iter_markers("allow_console") for text in marker.args]
    problems: list[str] = []

    def on_console(message):
        if message.type == "error" and not any(text in message.text for text in allowed):
            problems.append(f"console error on {message.page.url if message.page else '?'}: {message.text}")

    def on_page(new_page):
        new_page.on("pageerror", lambda error: problems.append(f"uncaught error on {new_page.url}: {error}"))

    context.on("console", on_console)
    context.on("page", on_page)
    for open_page in context.pages:
        on_page(open_page)
    yield
    assert not problems, "The browser reported errors:\n" + "\n".join(problems)


@pytest.fixture
def screenshot(page):
    """screenshot("name") saves artifacts/screenshots/name.png (git-ignored) and returns its path."""

    def take(name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(page, live_server):
    """login(user) signs in through the real login form (test users' password is 'pw-<username>')."""

    def do_login(user, password=None):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password or f"pw-{user.username}")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return do_login


# A whole running system (web, worker, scheduler under honcho) on a database file of its own.
from tests.system.processes import migrated_database, system  # noqa: E402, F401
