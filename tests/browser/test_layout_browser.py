"""Every main page fits the screen, on a laptop (1366 px) and a phone (390 px), light and dark, as every role
that can see it. Screenshots land in artifacts/screenshots/layout-*.png for a person to look at."""

import io

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import expect

from events.models.activity import ActivityEvent
from events.models.messages import Conversation
from monitoring.models import HealthCheck, MonitoringReport, WorkflowExecution

from .conftest import SCREENSHOTS

WIDTHS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}

# The widest elements, to name what overflows when a page does not fit.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) wide.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide: wide.slice(0, 8)};
}"""


@pytest.fixture
def demo(transactional_db):
    call_command("demo_data", stdout=io.StringIO())
    event = ActivityEvent.objects.filter(project__slug="acme-api", metadata__isnull=False).order_by("-created_at").first()
    conversation = Conversation.objects.filter(project__slug="acme-api").first()
    check, report = HealthCheck.objects.first(), MonitoringReport.objects.first()
    run = WorkflowExecution.objects.order_by("-pk").first()
    assert event and conversation and check and report and run, "the demo data has each kind of page"
    return {
        "project": [
            "/projects/acme-api/", "/projects/acme-api/activity/", f"/projects/acme-api/activity/{event.pk}/",
            "/projects/acme-api/insights/", "/projects/acme-api/audit/", "/projects/acme-api/conversations/",
            f"/projects/acme-api/conversations/{conversation.pk}/", "/projects/acme-api/quality/",
            "/projects/acme-api/settings/",
        ],
        "everyone": ["/", "/projects/", "/bookmarks/"],
        "monitoring": [
            "/monitoring/", "/monitoring/schedules/", "/monitoring/health/",
            f"/monitoring/health/{check.pk}/",
            f"/monitoring/health/{check.pk}/edit/", "/monitoring/reports/",
            f"/monitoring/reports/{report.report_id}/",
            f"/monitoring/runs/{run.pk}/", "/monitoring/notifications/",
        ],
    }


def pages_of(role, demo):
    """Each role's main pages: members see the project, managers monitoring, outsiders their own pages."""
    return {
        "owner": demo["everyone"] + demo["project"],
        "viewer": demo["everyone"] + demo["project"],
        "outsider": demo["everyone"],
        "manager": demo["everyone"] + demo["monitoring"],
    }[role]


def sign_in(page, base, username):
    """A session cookie for the user (many sign-ins through the form would meet the login rate limit)."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    page.context.clear_cookies()
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": base}])


def first_screen(page, name):
    """What a person sees on opening the page (a full-page shot of a long feed is too tall to look at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def assert_fits(page, where):
    fit = page.evaluate(OVERFLOW)
    assert fit["scrollWidth"] <= fit["innerWidth"], f"{where} is {fit['scrollWidth']} px wide on a {fit['innerWidth']} px screen: {fit['wide']}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_every_page_fits_the_screen_for_every_role(page, live_server, demo, screen, scheme):
    page.set_viewport_size(WIDTHS[screen])
    page.emulate_media(color_scheme=scheme)
    violations = []
    page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}") if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_server.url}/login/")
    assert_fits(page, "the login page")
    first_screen(page, f"layout-{screen}-{scheme}-login")
    for role in ("owner", "viewer", "outsider", "manager"):
        sign_in(page, live_server.url, role)
        for path in pages_of(role, demo):
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, f"{path} as {role}: {response.status}"
            expect(page.locator("main")).to_be_visible()
            assert_fits(page, f"{path} as {role}")
            if role in ("owner", "manager"):
                name = "-".join(part if not part[-1:].isdigit() else "detail" for part in path.strip("/").split("/")) or "home"
                first_screen(page, f"layout-{screen}-{scheme}-{name}")
    assert violations == []  # no page needs an inline style or script the CSP refuses


def test_on_a_phone_filters_fold_behind_a_button_and_rows_stack(page, live_server, demo):
    page.set_viewport_size(WIDTHS["phone"])
    sign_in(page, live_server.url, "viewer")
    page.goto(f"{live_server.url}/projects/acme-api/activity/")
    search = page.get_by_label("Search")
    expect(search).to_be_hidden()  # the results come first, not a screen of filters
    first_row = page.locator("#feed-rows tr.event-row").first
    expect(first_row.locator("td").nth(2)).to_have_attribute("data-label", "Status")
    assert first_row.locator("td").nth(2).evaluate("td => getComputedStyle(td).display") == "block"
    page.locator(".filter-panel > summary").click()
    expect(search).to_be_visible()
    first_screen(page, "layout-phone-light-feed-filters-open")

    page.set_viewport_size(WIDTHS["laptop"])
    page.reload()
    expect(page.get_by_label("Search")).to_be_visible()  # beside the results, the filters are simply open
    assert first_row.locator("td").nth(2).evaluate("td => getComputedStyle(td).display") == "table-cell"
