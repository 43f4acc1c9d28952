"""A manager creates a webhook rule in the browser, a failing event is recorded, the delivery task runs, and the
delivery log shows the receiver's answer; Redeliver sends it again."""

from django_tasks_db.models import DBTaskResult
from playwright.sync_api import expect

from events.ingest import ingest_events, validate_event
from notifications import sending
from notifications.models import Subscription
from outbound import engine
from tests.receivers import Receiver


def run_queued(name):
    task = getattr(sending, name, None) or getattr(engine, name)
    for result in DBTaskResult.objects.filter(task_path=task.module_path, status="READY"):
        task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        DBTaskResult.objects.filter(pk=result.pk).update(status="SUCCESSFUL")


def test_rule_with_webhook_delivers_a_failing_event_and_shows_it_in_the_log(page, live_server, login, screenshot,
                                                                            project, owner, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with Receiver([500, 200], body=b'{"received": true}') as receiver:
        login(owner)
        page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
        page.get_by_role("link", name="Manage notifications").click()
        expect(page.get_by_text("No subscriptions yet.")).to_be_visible()
        page.get_by_role("link", name="New subscription").click()
        page.get_by_label("Name").fill("Failures to CI")
        page.get_by_label("Channel").select_option("webhook")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Event status").select_option("FAILED")
        page.get_by_role("button", name="Create subscription").click()

        secret = page.get_by_label("Signing secret")
        expect(secret).to_be_visible()
        subscription = Subscription.objects.get()
        assert secret.input_value() == subscription.secret
        screenshot("notifications-created")

        ingest_events(project, [
            validate_event(event_type="APR_FAILED", title="APR session 42 failed", entity_type="apr_session",
                           entity_id="42", status="FAILED"),
            validate_event(event_type="APR_COMPLETED", title="APR session 43 done", entity_type="apr_session",
                           entity_id="43", status="COMPLETED"),
        ])
        run_queued("deliver_batch")
        assert len(receiver.requests) == 1

        page.reload()
        expect(page.get_by_label("Signing secret")).to_have_count(0)
        log = page.locator("#deliveries tbody tr")
        expect(log).to_have_count(1)
        expect(log.first).to_contain_text("500")
        expect(log.first).to_contain_text("APR session 42 failed")
        expect(log.first).to_contain_text("next attempt")

        log.first.get_by_role("button", name="Redeliver").click()
        expect(page.locator(".messages")).to_contain_text("Redelivery")
        run_queued("send_deliveries")
        page.reload()
        expect(log).to_have_count(2)
        expect(log.first).to_contain_text("200")
        expect(log.first).to_contain_text("(redelivery)")
        expect(log.first).to_contain_text('{"received": true}')
        first, again = (receiver.json(i) for i in (0, 1))
        assert first.pop("created") <= again.pop("created") and first == again  # the same payload and id

        page.set_viewport_size({"width": 1366, "height": 900})
        screenshot("notifications-log-1366")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot("notifications-log-390")
        page.emulate_media(color_scheme="dark")
        page.set_viewport_size({"width": 1366, "height": 900})
        screenshot("notifications-log-dark")
        page.get_by_role("link", name="Notifications", exact=True).click()
        expect(page.locator(f"#subscription-{subscription.pk}")).to_contain_text("Enabled")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot("notifications-list-390-dark")


def test_viewer_watches_an_entity_from_the_event_page(page, live_server, login, screenshot, project, viewer):
    [(event, _)] = ingest_events(project, [validate_event(event_type="APR_FAILED", title="APR 7 failed",
                                                          entity_type="apr_session", entity_id="7", status="FAILED")])
    login(viewer)
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/{event.pk}/")
    button = page.get_by_role("button", name="Watch this session")
    expect(button).to_be_visible()
    button.click()
    expect(page.get_by_role("button", name="Stop watching this session")).to_be_visible()
    page.goto(f"{live_server.url}/notifications/")
    expect(page.locator(f"#project-{project.slug}")).to_contain_text("Session 7")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("notifications-preferences-390")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/projects/{project.slug}/activity/")
    expect(page.get_by_role("button", name="Watch failures")).to_be_visible()


def test_send_test_delivery_and_read_the_attempt_request_and_response(page, live_server, login, screenshot,
                                                                      project, owner, settings):
    """The ping button queues a test delivery; its attempt page shows what was sent and what came back, on a
    laptop and on a phone, light and dark."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with Receiver([200], body=b'{"pong": true}') as receiver:
        subscription = Subscription.objects.create(project=project, name="CI hook", channel="webhook",
                                                   target_url=receiver.url, secret="whsec_test")
        login(owner)
        page.goto(f"{live_server.url}/projects/{project.slug}/settings/notifications/{subscription.pk}/")
        page.get_by_role("button", name="Send test delivery").click()
        expect(page.locator(".messages")).to_contain_text("Test delivery")
        run_queued("send_deliveries")
        assert len(receiver.requests) == 1
        page.reload()
        row = page.locator("#deliveries tbody tr").first
        expect(row).to_contain_text("Test delivery to “CI hook”")
        expect(row).to_contain_text("200")
        row.get_by_role("link").first.click()
        expect(page.get_by_role("heading", name="Request")).to_be_visible()
        expect(page.locator("dl.headers").first).to_contain_text("X-ActivityHub-Signature")
        expect(page.locator("pre.payload").first).to_contain_text('"type": "ping"')
        expect(page.get_by_role("heading", name="Response 200")).to_be_visible()
        expect(page.locator("pre.payload").last).to_contain_text('"pong": true')
        for width, height in ((1366, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
            screenshot(f"notifications-attempt-{width}")
        page.emulate_media(color_scheme="dark")
        screenshot("notifications-attempt-390-dark")
        page.set_viewport_size({"width": 1366, "height": 900})
        page.get_by_role("link", name="CI hook").click()
        expect(page.get_by_role("button", name="Send test delivery")).to_be_visible()
        screenshot("notifications-ping-1366-dark")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.get_by_role("button", name="Send test delivery")).to_be_visible()
        screenshot("notifications-ping-390-dark")
