"""Watches email members at once; digests summarise the window that just ended, per subscription and member."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from events.ingest import ingest_events, validate_event
from events.models.activity import ActivityEvent, ProjectAction
from notifications import digests, sending
from notifications.models import Channel, Delivery, Level, Mode, Preference, Source, Subscription, Watch
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 10, 7, tzinfo=UTC)  # the hourly window that just ended: 09:00–10:00


@pytest.fixture(autouse=True)
def clock_at_now():
    # Events are recorded at the clock's now and digests cut windows around NOW: both read the same clock.
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def record(project, at=None, status="FAILED", title="APR 7 failed", entity_id="7", event_type="APR_FAILED"):
    [(event, _)] = ingest_events(project, [validate_event(event_type=event_type, title=title, entity_type="apr_session",
                                                          entity_id=entity_id, status=status)])
    if at:
        ActivityEvent.objects.filter(pk=event.pk).update(created_at=at)
    return event


def test_a_viewer_watching_an_entity_is_emailed_about_it_only(project, viewer):
    Watch.objects.create(user=viewer, project=project, entity_type="apr_session", entity_id="7")
    watched, other = record(project, status="COMPLETED"), record(project, entity_id="8")
    sending.deliver_recorded(project.pk, Source.EVENT, [watched.pk, other.pk])
    [message] = mail.outbox
    assert message.to == [viewer.email] and "session 7 in Acme API" in message.subject and "APR 7 failed" in message.body
    assert Delivery.objects.get().recipient_id == viewer.pk


def test_failures_level_emails_failures_once_even_when_also_watching(project, viewer, editor):
    Preference.objects.create(user=viewer, project=project, level=Level.FAILURES)
    Watch.objects.create(user=viewer, project=project, entity_type="apr_session", entity_id="7")
    Preference.objects.create(user=editor, project=project, level=Level.OFF)
    failed, done = record(project), record(project, status="COMPLETED", entity_id="9", title="APR 9 done")
    sending.deliver_recorded(project.pk, Source.EVENT, [failed.pk, done.pk])
    sending.deliver_recorded(project.pk, Source.EVENT, [failed.pk, done.pk])  # a second worker: nothing new
    assert [m.to for m in mail.outbox] == [[viewer.email]]


def test_members_on_digest_are_not_emailed_at_once(project, viewer):
    Preference.objects.create(user=viewer, project=project, level=Level.EVERYTHING, mode=Mode.DAILY)
    Watch.objects.create(user=viewer, project=project, entity_type="apr_session", entity_id="7")
    sending.deliver_recorded(project.pk, Source.EVENT, [record(project).pk])
    assert mail.outbox == []


def test_the_window_is_the_last_whole_hour_or_day():
    assert digests.window(Mode.HOURLY, NOW) == (datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 4, 10, tzinfo=UTC))
    assert digests.window(Mode.DAILY, NOW) == (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))


def test_hourly_digest_counts_only_the_windows_matching_events_and_goes_out_once(project):
    with Receiver([200]) as receiver:
        Subscription.objects.create(project=project, name="Hourly APR", channel=Channel.WEBHOOK, target_url=receiver.url,
                                    mode=Mode.HOURLY, category="apr")
        record(project, at=NOW - timedelta(minutes=30), title="Payments APR failed")
        record(project, at=NOW - timedelta(minutes=50), status="COMPLETED", event_type="APR_COMPLETED")
        record(project, at=NOW - timedelta(hours=2), title="Too old")  # before the window
        record(project, at=NOW - timedelta(minutes=1), title="Too new")  # after it
        record(project, at=NOW - timedelta(minutes=20), event_type="INDEXING_FAILED", title="Not APR")  # not matching
        assert digests.send_digests(Mode.HOURLY, now=NOW) == {"subscriptions": 1, "members": 0}
        assert digests.send_digests(Mode.HOURLY, now=NOW + timedelta(minutes=10)) == {"subscriptions": 0, "members": 0}
    [request] = receiver.requests
    body = receiver.json()
    assert body["type"] == "digest.hourly"
    digest = body["data"]["digest"]
    assert digest["event_counts"] == {"COMPLETED": 1, "FAILED": 1, "IN_PROGRESS": 0}
    assert "2 events in the last hour: 1 completed, 1 failed, 0 in progress." in digest["summary"]
    assert "Failed: Payments APR failed" in digest["summary"]
    assert not any("Too" in s or "Not APR" in s for s in digest["summary"])


def test_an_empty_window_sends_nothing(project, viewer):
    Subscription.objects.create(project=project, name="Daily", channel=Channel.EMAIL, mode=Mode.DAILY).recipients.set([viewer])
    Preference.objects.create(user=viewer, project=project, level=Level.EVERYTHING, mode=Mode.DAILY)
    record(project, at=NOW - timedelta(days=3))
    assert digests.send_digests(Mode.DAILY, now=NOW) == {"subscriptions": 0, "members": 0}
    assert mail.outbox == [] and not Delivery.objects.exists()


def test_member_digests_follow_each_members_level_and_watches(project, viewer, editor, owner):
    Preference.objects.create(user=viewer, project=project, level=Level.FAILURES, mode=Mode.HOURLY)
    Preference.objects.create(user=editor, project=project, level=Level.OFF, mode=Mode.HOURLY)
    Watch.objects.create(user=editor, project=project, entity_type="apr_session", entity_id="8")
    Preference.objects.create(user=owner, project=project, level=Level.EVERYTHING, mode=Mode.DAILY)  # not this run
    record(project, at=NOW - timedelta(minutes=30), title="APR 7 failed")
    record(project, at=NOW - timedelta(minutes=40), status="COMPLETED", entity_id="8", title="APR 8 done",
           event_type="APR_COMPLETED")
    assert digests.send_digests(Mode.HOURLY, now=NOW) == {"subscriptions": 0, "members": 2}
    by_member = {m.to[0]: m.body for m in mail.outbox}
    assert "1 event in the last hour: 0 completed, 1 failed" in by_member[viewer.email]
    assert "1 event in the last hour: 1 completed, 0 failed" in by_member[editor.email]
    assert owner.email not in by_member


def test_action_digest_uses_the_insights_sentences(project):
    with Receiver([200]) as receiver:
        Subscription.objects.create(project=project, name="Deploys", channel=Channel.SLACK, target_url=receiver.url,
                                    mode=Mode.HOURLY, match_events=False, match_actions=True, action_type="deployment")
        for status in ("success", "failed"):
            ProjectAction.objects.create(project=project, action_type="deployment", status=status,
                                         created_at=NOW - timedelta(minutes=15))
        digests.send_digests(Mode.HOURLY, now=NOW)
    assert "2 deployments in the last hour (1 failed)." in receiver.json()["text"]
