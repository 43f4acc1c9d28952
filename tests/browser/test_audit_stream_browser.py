"""An owner streams the project's audit trail to a webhook from Settings: the secret is shown once, a test delivery
and a batch of entries reach a real receiver on 127.0.0.1 and show in the card's log; pause, resume and remove (after
asking) work; each attempt has its page; on a laptop and a phone, light and dark."""

import pytest
from django_tasks_db.models import DBTaskResult
from playwright.sync_api import expect

from notifications import audit_stream
from outbound import engine
from projects.models import AuditStream
from tests.receivers import Receiver


def run_queued_deliveries():
    task = engine.send_deliveries
    for result in DBTaskResult.objects.filter(task_path=task.module_path, status="READY"):
        task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        DBTaskResult.objects.filter(pk=result.pk).update(status="SUCCESSFUL")


def test_owner_sets_up_the_stream_sends_a_test_delivery_and_sees_it(page, live_server, login, screenshot, project,
                                                                   owner, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with Receiver([200], body=b'{"pong": true}') as receiver:
        login(owner)
        page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
        card = page.locator("#audit-stream")
        expect(card.get_by_role("heading", name="Set up a stream")).to_be_visible()
        card.get_by_label("Webhook URL").fill(receiver.url)
        card.get_by_role("button", name="Start streaming").click()

        expect(page.locator(".messages")).to_contain_text("Audit streaming to http://127.0.0.1/… set up")
        secret = card.get_by_label("Stream signing secret")
        expect(secret).to_be_visible()
        stream = AuditStream.objects.get()
        assert secret.input_value() == stream.secret
        expect(card.get_by_text("Streaming", exact=True)).to_be_visible()

        card.get_by_role("button", name="Send test delivery").click()
        expect(page.locator(".messages")).to_contain_text("Test delivery")
        expect(card.get_by_label("Stream signing secret")).to_have_count(0)  # shown once
        run_queued_deliveries()
        assert len(receiver.requests) == 1 and receiver.json(0)["type"] == "ping"
        page.reload()
        rows = card.locator("#audit-stream-deliveries tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Test delivery of the audit stream of Acme API")
        expect(rows.first).to_contain_text("200")
        expect(rows.first).to_contain_text('{"pong": true}')

        rows.first.get_by_role("link").first.click()  # the attempt's page: what was sent, what came back
        expect(page.get_by_role("heading", name="Request")).to_be_visible()
        expect(page.locator("dl.headers").first).to_contain_text("X-ActivityHub-Signature")
        expect(page.locator("pre.payload").first).to_contain_text('"type": "ping"')
        expect(page.get_by_role("heading", name="Response 200")).to_be_visible()
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot("audit-stream-attempt-390")
        page.set_viewport_size({"width": 1366, "height": 900})
        page.get_by_role("link", name="Audit streaming").click()

        assert audit_stream.stream_due() == {"acme-api": 2}  # the setup and the test delivery's entries
        page.reload()
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("2 audit entries of Acme API")
        expect(card).to_contain_text(f"Delivered up to entry #{AuditStream.objects.get().sent_sequence}")

        for width, height in ((1366, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            card.scroll_into_view_if_needed()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
            shot = screenshot(f"audit-stream-{width}")
            card.screenshot(path=str(shot.with_name(f"audit-stream-card-{width}.png")))  # the card alone, to look at
        page.emulate_media(color_scheme="dark")
        shot = screenshot("audit-stream-390-dark")
        card.screenshot(path=str(shot.with_name("audit-stream-card-390-dark.png")))
        page.set_viewport_size({"width": 1366, "height": 900})
        screenshot("audit-stream-1366-dark")
        page.emulate_media(color_scheme="light")

        card.get_by_role("button", name="Pause").click()
        expect(page.locator(".messages")).to_contain_text("Audit stream paused")
        expect(card.get_by_text("Paused", exact=True)).to_be_visible()
        card.get_by_role("button", name="Resume").click()
        expect(page.locator(".messages")).to_contain_text("Audit stream resumed")

        card.get_by_role("button", name="Remove…").click()
        confirm = card.locator("#audit-stream-confirm")
        expect(confirm).to_contain_text("Remove the audit stream to http://127.0.0.1/…?")
        screenshot("audit-stream-remove-1366")
        assert AuditStream.objects.exists()  # asking removed nothing
        confirm.get_by_role("button", name="Remove the stream").click()
        expect(page.locator(".messages")).to_contain_text("removed")
        expect(card.get_by_role("button", name="Start streaming")).to_be_visible()
        assert not AuditStream.objects.exists()


@pytest.mark.allow_console("status of 422")
def test_a_refused_url_says_why_in_the_card(page, live_server, login, project, owner, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = settings.OUTBOUND_ALLOW_PRIVATE = False
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    card = page.locator("#audit-stream")
    card.get_by_label("Webhook URL").fill("https://10.1.2.3/audit")
    with page.expect_response(lambda r: r.status == 422):
        card.get_by_role("button", name="Start streaming").click()
    expect(card.locator(".errorlist")).to_contain_text("private")
    assert not AuditStream.objects.exists()
