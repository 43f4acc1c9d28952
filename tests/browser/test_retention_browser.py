import pytest
from playwright.sync_api import expect


@pytest.mark.allow_console('status of 422 (Unprocessable Entity)')  # the test provokes this answer on purpose
def test_owner_changes_retention_after_confirming_and_a_bad_value_is_explained(page, live_server, login, screenshot,
                                                                               project, owner):
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    card = page.locator("#retention")
    expect(card).to_contain_text("180 days")

    # Out of range: the card says why, in place, and nothing is stored.
    field = card.get_by_label("Keep activity for (days)")
    field.fill("0")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention")).to_contain_text("at least 1 day")
    project.refresh_from_db()
    assert project.retention_days == 180

    # Dismissing the confirmation changes nothing.
    page.locator("#retention").get_by_label("Keep activity for (days)").fill("30")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention")).to_contain_text("180 days")
    project.refresh_from_db()
    assert project.retention_days == 180

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#retention").get_by_role("button", name="Save retention").click()
    expect(page.locator("#retention").get_by_role("status")).to_contain_text("older than 30 days will be removed")
    project.refresh_from_db()
    assert project.retention_days == 30
    screenshot("retention-saved-1366")

    page.reload()
    expect(page.locator("#retention")).to_contain_text("30 days")
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    expect(page.locator("#retention")).to_be_visible()
    fit = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert fit[0] <= fit[1]
    screenshot("retention-phone-dark")
