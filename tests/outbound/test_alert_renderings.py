"""One notification, rendered once for every channel: the e-mail (sentence as subject, text and HTML, the
List-Unsubscribe headers on a real one-click URL), the Slack payload (blocks) and the webhook JSON (the sentence
beside the machine codes). Sent for real: e-mail to the locmem outbox, Slack and webhook to receivers on 127.0.0.1."""

import json

import pytest
from django.core import mail
from django.test import Client

from events.ingest import ingest_events, validate_event
from notifications import sending
from notifications.models import Channel, Delivery, Level, Preference, Source, Subscription
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

SITE = "https://activity.example.com"
SENTENCE = "Auto-fix failed on session apr-w3 in Acme API, 4 min after it started"


@pytest.fixture
def failed_fix(project, editor, settings):
    settings.SITE_URL = SITE
    [(event, _)] = ingest_events(project, [validate_event(
        event_type="AUTO_FIX_FAILED", title="Auto-fix of the flaky login test failed", entity_type="apr_session",
        entity_id="apr-w3", status="FAILED", duration=4 * 60 * 1000 + 7000,
        description="The generated patch did not pass the test suite.")], user=editor)
    return event


def send_to_everyone(project, event, viewer, slack_url, hook_url):
    Preference.objects.create(user=viewer, project=project, level=Level.FAILURES)
    Subscription.objects.create(project=project, name="Team channel", channel=Channel.SLACK, target_url=slack_url)
    Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK, target_url=hook_url,
                                secret="whsec_test")
    return sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])


def test_one_alert_reads_as_a_sentence_in_email_slack_and_webhook(project, viewer, failed_fix):
    with Receiver([200]) as slack, Receiver([200]) as hook:
        assert send_to_everyone(project, failed_fix, viewer, slack.url, hook.url) == 3
    event_url = f"{SITE}/projects/acme-api/activity/{failed_fix.pk}/"

    [email] = mail.outbox
    assert email.to == [viewer.email] and email.subject == SENTENCE
    assert email.body.startswith(SENTENCE + ".\nAuto-fix of the flaky login test failed\n")
    assert "By eddie." in email.body and f"Open it: {event_url}" in email.body
    assert f"Manage your notifications: {SITE}/notifications/" in email.body
    unsubscribe = email.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{SITE}/notifications/unsubscribe/") and unsubscribe.endswith("/>")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert isinstance(email, mail.EmailMultiAlternatives)
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and isinstance(html, str) and f'<a href="{event_url}">{SENTENCE}</a>' in html

    slack_body = json.loads(slack.requests[0]["body"])
    headline, details, context = slack_body["blocks"]
    assert headline == {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{event_url}|{SENTENCE}>*"}}
    assert "The generated patch did not pass the test suite." in details["text"]["text"]
    assert context["elements"][0]["text"].startswith("By eddie · <https://activity.example.com/projects/acme-api/")
    assert slack_body["text"] == SENTENCE  # the phone notification's one line

    envelope = json.loads(hook.requests[0]["body"])
    assert envelope["subject"] == SENTENCE and envelope["type"] == "activity.failed"
    assert envelope["data"]["event"]["event_type"] == "AUTO_FIX_FAILED"  # the codes beside the words
    assert envelope["data"]["event"]["status"] == "FAILED" and envelope["data"]["actor"] == "eddie"
    assert envelope["links"]["event"] == event_url
    assert envelope["links"]["manage"].startswith(f"{SITE}/projects/acme-api/settings/notifications/")
    print("\n--- e-mail ---")  # shown with `pytest -rP`: the three renderings side by side
    print("\n".join(f"{k}: {v}" for k, v in [("Subject", email.subject), *email.extra_headers.items()]))
    print(email.body)
    print("\n--- Slack ---")
    print(json.dumps(slack_body, indent=2, ensure_ascii=False))
    print("\n--- webhook ---")
    print(json.dumps(envelope, indent=2, ensure_ascii=False))


def test_the_unsubscribe_link_asks_then_stops_the_members_emails_in_one_click(project, viewer, failed_fix):
    with Receiver([200]) as slack, Receiver([200]) as hook:
        send_to_everyone(project, failed_fix, viewer, slack.url, hook.url)
    path = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>").removeprefix(SITE)
    anonymous = Client(enforce_csrf_checks=True)  # a mail client: not signed in, no CSRF token
    asked = anonymous.get(path)
    assert asked.status_code == 200 and "Stop notification e-mails from Acme API?" in asked.content.decode()
    assert Preference.objects.get(user=viewer).level == Level.FAILURES  # a GET (a link preview) changes nothing
    done = anonymous.post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed from Acme API" in done.content.decode()
    assert Preference.objects.get(user=viewer).level == Level.OFF
    assert Delivery.objects.filter(destination=f"member:{viewer.pk}").count() == 1


def test_a_forged_unsubscribe_link_is_a_404_and_changes_nothing(project, viewer):
    Preference.objects.create(user=viewer, project=project, level=Level.EVERYTHING)
    assert Client().post("/notifications/unsubscribe/forged-token/").status_code == 404
    assert Preference.objects.get(user=viewer).level == Level.EVERYTHING
