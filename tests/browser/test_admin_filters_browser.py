"""A staff member who follows a change-list link with a date no calendar holds sees the whole list and a sentence
saying which filter could not be applied, never an error page."""

import pytest
from playwright.sync_api import expect


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1366, 390])
def test_an_absurd_date_filter_in_the_admin_is_named_and_the_list_still_shows(page, live_server, login, staff,
                                                                               screenshot, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(staff)
    page.goto(f"{live_server.url}/admin/monitoring/workflowexecution/?created_at__year=99999")
    expect(page).to_have_url(f"{live_server.url}/admin/monitoring/workflowexecution/?e=1")
    message = page.locator(".messagelist .error")
    expect(message).to_contain_text("The list could not be filtered by created_at__year=99999")
    expect(message).to_contain_text("so the whole list is shown")
    expect(page.get_by_role("heading", name="Select workflow run to change")).to_be_visible()
    expect(page.get_by_text("Database error")).to_have_count(0)
    expect(page.get_by_text("Server Error")).to_have_count(0)
    screenshot(f"admin-bad-date-filter-{width}")
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/admin/monitoring/notificationlog/?sent_at__year=10000")
    expect(page.locator(".messagelist .error")).to_contain_text("sent_at__year=10000")
    screenshot(f"admin-bad-date-filter-{width}-dark")
