"""Webhooks as GitHub's work: "Send test delivery" (a ping, on the page and in the API), each attempt's request
(headers, body) and response (status, headers, first KB of body), and a manual redelivery that succeeds cancels
the automatic retry still queued. Outsiders get 404, viewers may look but not ping (403)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events.ingest import ingest_events, validate_event
from notifications import sending
from notifications.models import Channel, Delivery, DeliveryState, Source, Subscription
from outbound import engine, verify_signature
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(project):
    return Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK,
                                       target_url="http://127.0.0.1:9/hook", secret="whsec_test")


def failed_event(project):
    [(event, _)] = ingest_events(project, [validate_event(event_type="APR_FAILED", title="APR session 42 failed",
                                                          entity_type="apr_session", entity_id="42", status="FAILED")])
    return event


def test_send_test_delivery_pings_the_receiver_and_shows_in_the_log(client_for, owner, project, hook,
                                                                    django_capture_on_commit_callbacks):
    client = client_for(owner)
    with Receiver([500]) as receiver:
        Subscription.objects.filter(pk=hook.pk).update(target_url=receiver.url)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            answer = client.post(reverse("notifications:subscription_ping", args=[project.slug, hook.pk]))
        assert answer.status_code == 302
        [ping] = Delivery.objects.for_subscription(hook)
        assert (ping.source, ping.event_type, ping.manual, ping.state) == ("ping", "ping", True, "pending")
        # the send is a task, queued after commit (beside the audit entry's announcement)
        assert sum(getattr(c, "func", None) == engine.send_deliveries.enqueue for c in callbacks) == 1
        engine.send_now([ping.pk])
    body = json.loads(receiver.requests[0]["body"])
    assert body["type"] == "ping" and body["data"]["ping"] is True and body["data"]["subscription"]["id"] == hook.pk
    assert body["subject"] == "Test delivery to “CI hook” in Acme API: this subscription reaches you"
    assert verify_signature("whsec_test", receiver.requests[0]["headers"]["X-ActivityHub-Signature"],
                            receiver.requests[0]["body"])
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0  # a failed test delivery does not count towards disabling
    assert list(Delivery.objects.for_subscription(hook).values_list("attempt", "state")) == [(1, "failed")]  # no retry
    page = client.get(reverse("notifications:subscription", args=[project.slug, hook.pk])).content.decode()
    assert "Send test delivery" in page and "Test delivery to “CI hook”" in page


def test_an_attempt_shows_its_request_and_the_response(client_for, viewer, project, hook):
    with Receiver([502], body=b'{"error": "upstream down"}') as receiver:
        Subscription.objects.filter(pk=hook.pk).update(target_url=receiver.url)
        sending.deliver_recorded(project.pk, Source.EVENT, [failed_event(project).pk])
    first = Delivery.objects.for_subscription(hook).get(attempt=1)
    sent_headers = receiver.requests[0]["headers"]
    assert first.request_headers["X-ActivityHub-Signature"] == sent_headers["X-ActivityHub-Signature"]
    assert json.loads(first.request_body) == json.loads(receiver.requests[0]["body"])
    assert first.response_headers["content-type"] == "application/json"
    page = client_for(viewer).get(reverse("notifications:delivery", args=[project.slug, hook.pk, first.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "X-ActivityHub-Signature" in html and "&quot;type&quot;: &quot;activity.failed&quot;" in html
    assert "Response <span class=\"mono\">502</span>" in html and "upstream down" in html
    assert "Next automatic attempt" in html  # attempt 2 is queued
    assert "Redeliver" not in html  # a viewer reads only


def test_a_manual_redelivery_that_succeeds_cancels_the_queued_retry(client_for, owner, project, hook):
    now = timezone.now()
    with Receiver([500, 200]) as receiver:
        Subscription.objects.filter(pk=hook.pk).update(target_url=receiver.url)
        sending.deliver_recorded(project.pk, Source.EVENT, [failed_event(project).pk], now=now)
        first = Delivery.objects.for_subscription(hook).get(attempt=1)
        queued = Delivery.objects.for_subscription(hook).get(attempt=2)
        assert queued.state == DeliveryState.PENDING and queued.next_attempt_at > now
        again = sending.redeliver(first)
        engine.send_now([again.pk])
        assert engine.send_due(now=now + timedelta(days=2)) == 0  # nothing left to retry
    assert len(receiver.requests) == 2
    states = dict(Delivery.objects.for_subscription(hook).values_list("attempt", "state"))
    assert states == {1: "failed", 2: "cancelled", 3: "succeeded"}
    page = client_for(owner).get(reverse("notifications:subscription", args=[project.slug, hook.pk])).content.decode()
    assert "next attempt" not in page and "(redelivery)" in page
    detail = client_for(owner).get(reverse("notifications:delivery", args=[project.slug, hook.pk, first.pk]))
    detail_html = detail.content.decode()
    assert "(not needed)" in detail_html  # the cancelled retry, named on the delivery's page
    third = Delivery.objects.for_subscription(hook).get(attempt=3)
    third_url = reverse("notifications:delivery", args=[project.slug, hook.pk, third.pk])
    assert f'<a href="{third_url}">3</a>' in detail_html and "<strong>1</strong>" in detail_html
    this_url = reverse("notifications:delivery", args=[project.slug, hook.pk, first.pk])
    assert f'href="{this_url}"' not in detail_html  # the attempt shown is not a link to itself


def test_outsider_gets_404_and_viewer_403_on_the_new_pages(client_for, outsider, viewer, project, hook):
    delivery = Delivery.objects.create(**sending.destination_fields(project, "event", "1", subscription=hook))
    detail = reverse("notifications:delivery", args=[project.slug, hook.pk, delivery.pk])
    ping = reverse("notifications:subscription_ping", args=[project.slug, hook.pk])
    assert client_for(outsider).get(detail).status_code == 404
    assert client_for(outsider).post(ping).status_code == 404
    assert client_for(viewer).post(ping).status_code == 403
    assert client_for(viewer).get(detail).status_code == 200
    assert client_for(viewer).get(ping).status_code == 405
    other = Subscription.objects.create(project=project, name="Other", channel=Channel.WEBHOOK,
                                        target_url="http://127.0.0.1:9/")
    wrong_pair = reverse("notifications:delivery", args=[project.slug, other.pk, delivery.pk])
    assert client_for(viewer).get(wrong_pair).status_code == 404
    assert Delivery.objects.count() == 1  # nobody's ping was stored


@pytest.fixture
def other_token(other_project, outsider):
    return ApiKey.objects.create_key(project=other_project, name="theirs", scope="write", created_by=outsider)[1]


def test_ping_and_attempt_detail_in_the_api(api_as, write_token, read_token, other_token, project, hook):
    api = api_as(write_token)
    pinged = api.post(f"/notifications/subscriptions/{hook.pk}/ping")
    assert pinged.status_code == 202 and pinged.json()["source"] == "ping" and pinged.json()["attempt"] == 1
    detail = api.get(f"/notifications/deliveries/{pinged.json()['id']}")
    assert detail.status_code == 200 and detail.json()["request_headers"] == {} and detail.json()["state"] == "pending"
    assert api_as(read_token).post(f"/notifications/subscriptions/{hook.pk}/ping").status_code == 403
    theirs = api_as(other_token)
    assert theirs.post(f"/notifications/subscriptions/{hook.pk}/ping").status_code == 404
    assert theirs.get(f"/notifications/deliveries/{pinged.json()['id']}").status_code == 404
    assert api.get("/notifications/deliveries/0").status_code == 422
    assert Delivery.objects.count() == 1
