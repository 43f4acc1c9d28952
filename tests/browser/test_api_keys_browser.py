import json
import urllib.request

from playwright.sync_api import expect

from projects.models import ApiKey


def call_api(live_server, token, path="/api/v1/feed?limit=1"):
    request = urllib.request.Request(f"{live_server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_owner_creates_a_key_sees_it_once_and_revokes_it(page, live_server, login, screenshot, project, owner):
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    card = page.locator("#api-keys")
    card.get_by_label("Key name").fill("CI pipeline")
    card.get_by_label("Read and write").check()
    card.get_by_role("button", name="Create key").click()

    # Shown once, in place (htmx), with the full key; the key works against the real server.
    reveal = page.get_by_label("New API key")
    expect(reveal).to_be_visible()
    token = reveal.input_value()
    key = ApiKey.objects.get(name="CI pipeline")
    assert token.startswith(f"ah_{key.prefix}_") and key.scope == "write"
    expect(card.locator("tbody tr")).to_have_count(1)
    screenshot("api-keys-created")
    assert call_api(live_server, token)[0] == 200

    # A reload shows the prefix only.
    page.reload()
    expect(page.get_by_label("New API key")).to_have_count(0)
    expect(card.get_by_text(f"ah_{key.prefix}_…")).to_be_visible()
    assert token not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Revoke").click()
    expect(card.get_by_role("status")).to_contain_text("revoked")
    expect(card.get_by_text("Revoked", exact=False).first).to_be_visible()
    screenshot("api-keys-revoked")
    status, body = call_api(live_server, token)
    assert status == 401 and "API key" in body["detail"]


def test_api_docs_page_renders_offline_under_the_csp(page, live_server, screenshot):
    violations, external = [], []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith(live_server.url) and not req.url.startswith("data:") else None)
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_text("/api/v1/events", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    screenshot("api-docs")
    assert violations == [] and external == []
