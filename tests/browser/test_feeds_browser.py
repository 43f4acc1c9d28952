import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from playwright.sync_api import expect

from events.models.activity import ActivityEvent, EventStatus, EventType

ATOM = "{http://www.w3.org/2005/Atom}"


def fetch(url):
    """(status, body) of a plain GET with no cookies: what a feed reader sees."""
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_member_copies_a_filtered_feed_url_and_resets_the_token(page, live_server, login, screenshot, project, viewer):
    ActivityEvent.objects.create(project=project, event_type=EventType.AUTO_FIX_FAILED, status=EventStatus.FAILED,
                                 entity_type="apr_session", title="Auto-fix broke the build")
    ActivityEvent.objects.create(project=project, event_type=EventType.INDEXING_COMPLETED, status=EventStatus.COMPLETED,
                                 entity_type="indexing", title="Indexed main")
    page.set_viewport_size({"width": 1366, "height": 900})
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    page.get_by_label("Failed").check()
    expect(page).to_have_url(re.compile(r"status=FAILED"))

    # The Feeds box follows the filters (it is part of the results htmx swaps).
    box = page.locator("#feeds")
    box.locator("summary").click()
    atom = box.get_by_label("Atom")
    expect(atom).to_be_visible()
    expect(atom).to_have_value(re.compile(r"/activity/feed\.atom\?status=FAILED&token=ahf_"))
    expect(box.get_by_label("JSON Feed")).to_have_value(re.compile(r"/activity/feed\.json\?status=FAILED&token=ahf_"))
    box.get_by_role("button", name="Copy").first.click()
    expect(box.get_by_role("button", name="Copied")).to_be_visible()
    old_url = atom.input_value()
    screenshot("feeds-box-1366")

    # A feed reader (no session, no cookies) reads the filtered Atom feed.
    status, body = fetch(old_url)
    assert status == 200
    titles = [e.findtext(f"{ATOM}title") for e in ET.fromstring(body).findall(f"{ATOM}entry")]
    assert titles == ["Auto-fix broke the build"]

    # Dismissing the confirmation changes nothing; accepting it gives new URLs and the old one stops at once.
    page.once("dialog", lambda dialog: dialog.dismiss())
    box.get_by_role("button", name="Reset feed token").click()
    expect(page.locator("#feeds").get_by_label("Atom")).to_have_value(old_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#feeds").get_by_role("button", name="Reset feed token").click()
    box = page.locator("#feeds")
    expect(box.get_by_role("status")).to_contain_text("old feed URLs no longer work")
    expect(box.get_by_label("Atom")).not_to_have_value(old_url)
    new_url = box.get_by_label("Atom").input_value()
    assert "status=FAILED" in new_url
    assert fetch(old_url)[0] == 404
    assert fetch(new_url)[0] == 200

    # A reload shows the same (new) URL again: the user can copy it later.
    page.reload()
    page.locator("#feeds summary").click()
    expect(page.locator("#feeds").get_by_label("Atom")).to_have_value(new_url)

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("feeds-box-390")
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1366, "height": 900})
    screenshot("feeds-box-dark")
