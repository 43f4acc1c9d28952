"""In a real browser, at 1366 px and 390 px (dark): a schedule's ping URL and crontab line, the live cron reading
whose GETs carry no CSRF token, a stale tab's Remove, filter URLs without empty parameters, and a tab strip
that shows it scrolls on a phone."""

import subprocess
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from monitoring.models import HealthCheck, SchedulePing, WorkflowExecution, WorkflowSchedule
from projects.models import Membership

SIZES = [pytest.param(1366, "light", id="1366"), pytest.param(390, "dark", id="390-dark")]


def sized(page, width, scheme):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)


def fits(page):
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def get_urls(page):
    """Every GET the page sends from now on (documents, htmx requests, assets)."""
    urls = []
    page.on("request", lambda request: urls.append(request.url) if request.method == "GET" else None)
    return urls


@pytest.mark.parametrize(("width", "scheme"), SIZES)
def test_a_new_schedule_shows_its_ping_url_and_a_ping_from_the_crontab_line_shows_up(
    page, live_server, login, screenshot, project, manager, settings, width, scheme
):
    settings.SITE_URL = live_server.url
    sized(page, width, scheme)
    login(manager)
    urls = get_urls(page)
    page.goto(f"{live_server.url}/monitoring/schedules/")
    page.get_by_label("Workflow name").fill("nightly-backup")
    page.get_by_label("Project").select_option(label=project.name)
    page.get_by_label("Cron expression").fill("30 2 * * 1-5")
    page.get_by_label("Timezone").select_option("Europe/Berlin")
    preview = page.locator("#cron-preview")
    expect(preview).to_contain_text("At 02:30, Monday through Friday")
    expect(preview).to_contain_text("in Europe/Berlin time and in UTC")
    expect(preview.locator("li").first).to_contain_text(" UTC)")
    assert not [u for u in urls if "csrfmiddlewaretoken" in u], "a GET carried the CSRF token"
    previews = [u for u in urls if "cron_expression=" in u]
    assert previews and all(set(parse_qs(urlparse(u).query)) <= {"cron_expression", "timezone"} for u in previews)

    page.get_by_role("button", name="Add schedule").click()
    expect(page.get_by_role("heading", name="Schedule of nightly-backup")).to_be_visible()
    schedule = WorkflowSchedule.objects.get(workflow_name="nightly-backup")
    line = page.get_by_label("Crontab line", exact=True)
    expected = f"curl -fsS -m 10 --retry 5 -o /dev/null {live_server.url}/ping/{schedule.ping_token}"
    expect(line).to_have_value(f"30 2 * * 1-5  /path/to/job.sh && {expected}")
    expect(page.locator("#ping-url")).not_to_contain_text("testserver")
    screenshot(f"schedule-ping-url-{width}")
    fits(page)

    # The crontab's command, run for real, pings the URL; the page lists the ping and the run.
    subprocess.run(["bash", "-c", expected + " --data-raw 'backup ok: 3 GB'"], check=True, timeout=30)
    assert SchedulePing.objects.filter(schedule=schedule).count() == 1
    assert WorkflowExecution.objects.filter(workflow_name="nightly-backup", status="SUCCESS").count() == 1
    page.reload()
    expect(page.locator("tr[data-ping='success']")).to_contain_text("backup ok: 3 GB")
    expect(page.get_by_text("No pings yet")).to_have_count(0)
    screenshot(f"schedule-pinged-{width}")
    fits(page)


@pytest.mark.parametrize(("width", "scheme"), SIZES)
def test_a_stale_tabs_remove_takes_the_row_off_the_screen_without_an_error(
    page, live_server, login, screenshot, project, owner, editor, manager, width, scheme
):
    sized(page, width, scheme)
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    row = page.locator(f"#member-{Membership.objects.get(project=project, user=editor).pk}")
    expect(row).to_be_visible()
    Membership.objects.filter(project=project, user=editor).delete()  # another tab removed eddie a minute ago
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0)
    expect(page.locator("#flash")).to_contain_text("already been removed")
    screenshot(f"stale-remove-member-{width}")

    HealthCheck.objects.create(check_id="api", check_name="API", url="http://127.0.0.1:9/", paused=True)
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="gone-soon", cron_expression="0 * * * *")
    page.context.clear_cookies()
    login(manager)
    page.goto(f"{live_server.url}/monitoring/health/")
    card = page.locator("[data-check='api']")
    expect(card).to_be_visible()
    HealthCheck.objects.all().delete()
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Remove").click()
    expect(card).to_have_count(0)
    expect(page.locator("#flash")).to_contain_text("already been removed")

    page.goto(f"{live_server.url}/monitoring/schedules/")
    row = page.locator("tr[data-schedule='gone-soon']")
    expect(row).to_be_visible()
    schedule.delete()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    expect(page.locator("#flash")).to_contain_text("already been deleted")
    fits(page)


@pytest.mark.parametrize(("width", "scheme"), SIZES)
def test_filter_urls_carry_no_empty_parameters(page, live_server, login, screenshot, project, viewer, width, scheme):
    """Before, the feed pushed ?q=&category=&user=&…&status=COMPLETED: every empty field into the URL."""
    sized(page, width, scheme)
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    panel = page.locator("details.filter-panel")
    if not panel.evaluate("el => el.open"):
        panel.locator("summary").click()
    urls = get_urls(page)
    page.locator("#id_status_1").check()
    page.locator("form.filters").get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{live_server.url}/projects/{project.slug}/activity/?status=COMPLETED")
    sent = [u for u in urls if "/activity/?" in u]
    assert sent and all("=&" not in u and not u.endswith("=") for u in sent), sent
    assert not [u for u in urls if "csrfmiddlewaretoken" in u]
    screenshot(f"feed-filter-url-{width}")

    page.goto(f"{live_server.url}/projects/{project.slug}/audit/")
    panel = page.locator("details.filter-panel")
    if not panel.evaluate("el => el.open"):
        panel.locator("summary").click()
    page.locator("form.filters [name='q']").fill("deploy")
    page.locator("form.filters [name='q']").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/projects/{project.slug}/audit/?q=deploy")


def test_the_project_tab_strip_shows_it_scrolls_on_a_phone_and_not_on_a_laptop(
    page, live_server, login, screenshot, project, viewer
):
    login(viewer)
    tabs = page.locator("nav.tabs[aria-label='Project sections']")
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    expect(tabs).to_have_class("tabs more-after")
    assert tabs.evaluate("el => getComputedStyle(el).maskImage").startswith("linear-gradient")
    tabs.evaluate("el => el.scrollTo({left: el.scrollWidth})")
    expect(tabs).to_have_class("tabs more-before")
    screenshot("tabs-phone-scrolled")

    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    current = tabs.locator("[aria-current='page']")
    expect(current).to_have_text("Settings")
    expect(current).to_be_in_viewport()  # the current tab is scrolled into view
    expect(tabs).to_have_class("tabs more-before")
    screenshot("tabs-phone-settings")

    page.set_viewport_size({"width": 1366, "height": 900})
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    expect(tabs).to_have_class("tabs")
    assert tabs.evaluate("el => getComputedStyle(el).maskImage") == "none"
