import pytest
from playwright.sync_api import expect

from projects.models import Membership


def test_owner_logs_in_opens_project_and_adds_member(page, live_server, login, screenshot, project, owner, outsider):
    login(owner)
    expect(page.get_by_role("heading", name="My projects")).to_be_visible()
    page.get_by_role("link", name="Acme API").first.click()
    expect(page.get_by_role("heading", name="Acme API")).to_be_visible()
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Settings").click()

    page.get_by_label("Username or email").fill(outsider.username)
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Add member").click()

    # htmx swaps the members card in place: the new row appears without a page load.
    expect(page.get_by_role("status").filter(has_text="oscar added as editor")).to_be_visible()
    expect(page.locator("#members tbody tr")).to_have_count(4)
    assert Membership.objects.get(project=project, user=outsider).role == "editor"
    screenshot("foundation-members")


@pytest.mark.allow_console('status of 409 (Conflict)')  # the test provokes this answer on purpose
def test_last_owner_guard_is_shown_in_place(page, live_server, login, project, owner):
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    page.get_by_label(f"Role of {owner.username}").select_option("viewer")
    expect(page.get_by_role("alert")).to_contain_text("at least one owner")
    assert Membership.objects.get(project=project, user=owner).role == "owner"
