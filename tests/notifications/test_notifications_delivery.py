"""Subscriptions deliver each matching event once, signed, through a task after commit; failures retry with
backoff over about a day, redelivery repeats the payload, and an endpoint that keeps failing is disabled."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from events.ingest import ingest_actions, ingest_events, validate_event
from events.models.activity import EventStatus, ProjectAction
from notifications import sending
from notifications.models import Channel, Delivery, DeliveryState, Mode, Source, Subscription
from outbound import engine, verify_signature
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.DELIVERY_NOTIFICATION_MAX_ATTEMPTS = 8
    settings.DELIVERY_NOTIFICATION_RETRY_BASE_SECONDS = 680
    settings.DELIVERY_DISABLE_AFTER = 3


def record(project, status=EventStatus.FAILED, title="Indexing main failed", **fields):
    item = validate_event(event_type=fields.pop("event_type", "INDEXING_FAILED"), title=title,
                          entity_type=fields.pop("entity_type", "indexing"), status=status, **fields)
    [(event, _)] = ingest_events(project, [item])
    return event


def webhook(project, url, **fields):
    return Subscription.objects.create(project=project, name=fields.pop("name", "CI hook"), channel=Channel.WEBHOOK,
                                       target_url=url, secret="whsec_current", **fields)


def queued(name):
    path = f"outbound.engine.{name}" if name in ("send_due_deliveries", "send_deliveries") else f"notifications.sending.{name}"
    return list(DBTaskResult.objects.filter(task_path=path).order_by("enqueued_at"))


def run_retry_task(task):
    """What a worker does with the one retry task when its time comes."""
    return engine.send_due(now=task.run_after)


def run_recorded_tasks():
    for result in queued("deliver_batch"):
        sending.deliver_recorded(*result.args_kwargs["args"])


def test_recording_a_matching_event_enqueues_one_task_after_commit(project, django_capture_on_commit_callbacks):
    webhook(project, "http://127.0.0.1:9/hook", event_status=EventStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record(project)
        assert queued("deliver_batch") == []  # nothing before the commit
    for callback in callbacks:
        callback()
    [task] = queued("deliver_batch")
    assert task.args_kwargs["args"][:2] == [project.pk, "event"]


def test_a_project_without_rules_enqueues_nothing(project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        record(project)
    assert queued("deliver_batch") == []


def test_matching_event_is_delivered_signed_with_a_stable_payload(project, django_capture_on_commit_callbacks):
    with Receiver([200]) as receiver:
        subscription = webhook(project, receiver.url, event_status=EventStatus.FAILED, entity_type="indexing")
        with django_capture_on_commit_callbacks(execute=True):
            failed = record(project)
            record(project, status=EventStatus.COMPLETED, title="Indexing main done", event_type="INDEXING_COMPLETED")
        run_recorded_tasks()
    [request] = receiver.requests
    body = json.loads(request["body"])
    assert body["type"] == "activity.failed"
    assert body["data"]["event"]["id"] == failed.pk and body["data"]["event"]["category"] == "indexing"
    assert body["data"]["project"] == {"slug": project.slug, "name": project.name}
    assert verify_signature("whsec_current", request["headers"]["X-ActivityHub-Signature"], request["body"])
    [delivery] = Delivery.objects.for_subscription(subscription)
    assert (delivery.state, delivery.status_code, delivery.source_id) == (DeliveryState.SUCCEEDED, 200, f"{failed.pk}:FAILED")
    assert body["id"] == delivery.delivery_id and delivery.response_excerpt == '{"ok": true}'


def test_running_the_same_batch_twice_delivers_once(project):
    with Receiver([200]) as receiver:
        webhook(project, receiver.url)
        event = record(project)
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])
    assert len(receiver.requests) == 1
    assert Delivery.objects.count() == 1


def test_text_and_type_filters_match_only_their_events(project):
    with Receiver([200]) as receiver:
        webhook(project, receiver.url, event_types=["APR_FAILED"], text_contains="PAYMENTS")
        wanted = record(project, event_type="APR_FAILED", entity_type="apr_session", title="Fix payments flake")
        others = [record(project, event_type="APR_FAILED", entity_type="apr_session", title="Fix login"),
                  record(project, title="payments index")]
        sending.deliver_recorded(project.pk, Source.EVENT, [wanted.pk] + [e.pk for e in others])
    assert [r["body"] and json.loads(r["body"])["data"]["event"]["id"] for r in receiver.requests] == [wanted.pk]


def test_audit_actions_match_by_type_status_and_environment(project, django_capture_on_commit_callbacks):
    with Receiver([200]) as receiver:
        Subscription.objects.create(project=project, name="Prod deploys", channel=Channel.SLACK, target_url=receiver.url,
                                    match_events=False, match_actions=True, action_type="deployment",
                                    action_status="failed", environment="production")
        with django_capture_on_commit_callbacks(execute=True):
            [wanted] = ingest_actions(project, [{"action_type": "deployment", "status": "failed",
                                                 "environment": "production", "action_details": "fly.io 502"}])
            ingest_actions(project, [{"action_type": "deployment", "status": "failed", "environment": "staging"},
                                     {"action_type": "deployment", "status": "success", "environment": "production"}])
        run_recorded_tasks()
    [request] = receiver.requests
    assert "deployment" in json.loads(request["body"])["text"]
    assert Delivery.objects.get().source_id == wanted.action_id


def test_failed_delivery_retries_with_growing_spacing_over_about_a_day(project):
    now = timezone.now()
    with Receiver([500]) as receiver:
        subscription = webhook(project, receiver.url)
        event = record(project)
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk], now=now)
        clock = now
        for _ in range(7):
            [task] = queued("send_due_deliveries")[-1:]
            clock = task.run_after
            run_retry_task(task)
    attempts = list(Delivery.objects.for_subscription(subscription).order_by("attempt"))
    assert [d.attempt for d in attempts] == list(range(1, 9))
    assert {d.delivery_id for d in attempts} == {attempts[0].delivery_id}
    assert all(d.status_code == 500 for d in attempts)
    assert [d.state for d in attempts] == [DeliveryState.FAILED] * 7 + [DeliveryState.GAVE_UP]  # the 8th is the last
    gaps = [b.next_attempt_at - a.next_attempt_at for a, b in zip(attempts, attempts[1:], strict=False)]
    seconds = [g.total_seconds() for g in gaps]
    for i, gap in enumerate(seconds):  # 680 s × 2^i, ±10% jitter
        assert 680 * 2**i * 0.9 <= gap <= 680 * 2**i * 1.1
    assert not Delivery.objects.filter(state=DeliveryState.PENDING).exists()  # nothing queued after the 8th
    assert len(queued("send_due_deliveries")) == 7
    assert timedelta(hours=20) < (clock - now) < timedelta(hours=28)
    assert len(receiver.requests) == 8


def test_a_retry_that_succeeds_resets_the_failure_count(project):
    with Receiver([503, 200]) as receiver:
        subscription = webhook(project, receiver.url)
        event = record(project)
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])
        subscription.refresh_from_db()
        assert subscription.consecutive_failures == 1
        run_retry_task(queued("send_due_deliveries")[0])
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0
    assert list(Delivery.objects.order_by("attempt").values_list("state", flat=True)) == ["failed", "succeeded"]
    assert len(receiver.requests) == 2


def test_an_endpoint_failing_for_consecutive_events_is_disabled_and_owners_told(project, owner):
    with Receiver([500]) as receiver:
        subscription = webhook(project, receiver.url)
        for _ in range(3):
            sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk])
        retries_before = len(queued("send_due_deliveries"))
        sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk])  # disabled: not sent
        run_retry_task(queued("send_due_deliveries")[0])  # nor retried
    subscription.refresh_from_db()
    assert not subscription.enabled and "3 events in a row" in subscription.disabled_reason
    assert len(receiver.requests) == 3 and retries_before == 2  # the disabling failure schedules none
    [message] = mail.outbox
    assert message.to == [owner.email] and "disabled" in message.subject
    [entry] = ProjectAction.objects.filter(project=project, action_type="subscription_disabled")
    assert entry.actor_label == "notification delivery" and entry.changes == {"enabled": [True, False]}
    assert entry.action_details.startswith(f"Subscription “{subscription.name}” disabled: Disabled ")


def test_redelivery_sends_the_same_payload_again_with_the_same_delivery_id(project):
    with Receiver([200]) as receiver:
        webhook(project, receiver.url)
        event = record(project)
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])
        first = Delivery.objects.get()
        again = sending.redeliver(first)
        engine.send_now([again.pk])
    sent, resent = receiver.json(0), receiver.json(1)
    assert sent.pop("created") <= resent.pop("created") and sent == resent  # only the attempt's time differs
    again.refresh_from_db()
    assert (again.attempt, again.manual, again.delivery_id, again.state) == (2, True, first.delivery_id, "succeeded")


def test_secret_rotation_signs_with_both_secrets_during_the_overlap(project):
    now = timezone.now()
    with Receiver([200]) as receiver:
        subscription = webhook(project, receiver.url)
        subscription.rotate_secret("whsec_new", overlap=timedelta(hours=1), now=now)
        subscription.save()
        sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk], now=now)
        sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk], now=now + timedelta(hours=2))
    during, after = receiver.requests
    assert verify_signature("whsec_current", during["headers"]["X-ActivityHub-Signature"], during["body"],
                            now=int(now.timestamp()))
    assert verify_signature("whsec_new", during["headers"]["X-ActivityHub-Signature"], during["body"],
                            now=int(now.timestamp()))
    later = int((now + timedelta(hours=2)).timestamp())
    assert not verify_signature("whsec_current", after["headers"]["X-ActivityHub-Signature"], after["body"], now=later)
    assert verify_signature("whsec_new", after["headers"]["X-ActivityHub-Signature"], after["body"], now=later)


def test_email_subscription_writes_to_its_chosen_members(project, editor, viewer):
    subscription = Subscription.objects.create(project=project, name="Failures by mail", channel=Channel.EMAIL,
                                               event_status=EventStatus.FAILED)
    subscription.recipients.set([editor, viewer])
    sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk])
    assert sorted(m.to[0] for m in mail.outbox) == sorted([editor.email, viewer.email])
    assert Delivery.objects.get().state == DeliveryState.SUCCEEDED


def test_digest_subscriptions_are_not_sent_immediately(project):
    with Receiver([200]) as receiver:
        webhook(project, receiver.url, mode=Mode.HOURLY)
        sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk])
    assert receiver.requests == []


def test_a_rule_created_after_a_cached_answer_applies_at_once_in_this_process(project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        record(project)  # caches "no rules"
    webhook(project, "http://127.0.0.1:9/hook")
    with django_capture_on_commit_callbacks(execute=True):
        record(project)
    assert len(queued("deliver_batch")) == 1


def test_an_event_that_fails_later_is_delivered_when_it_fails(project, django_capture_on_commit_callbacks):
    from events.ingest import update_event

    with Receiver([200]) as receiver:
        webhook(project, receiver.url, event_status=EventStatus.FAILED)
        with django_capture_on_commit_callbacks(execute=True):
            running = record(project, status=EventStatus.IN_PROGRESS, title="Indexing main")
        run_recorded_tasks()
        assert receiver.requests == []  # not a failure yet
        with django_capture_on_commit_callbacks(execute=True):
            update_event(running, status=EventStatus.FAILED)
        for result in queued("deliver_batch")[1:]:
            sending.deliver_recorded(*result.args_kwargs["args"])
    [request] = receiver.requests
    assert json.loads(request["body"])["data"]["event"]["status"] == "FAILED"
