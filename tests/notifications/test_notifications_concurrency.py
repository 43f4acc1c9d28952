"""Two workers handling the same recorded batch at the same moment send each matching event exactly once."""

import threading

import pytest
from django.db import connection, connections

from events.ingest import ingest_events, validate_event
from notifications import sending
from notifications.models import Channel, Delivery, Source, Subscription
from tests.receivers import Receiver

pytestmark = pytest.mark.concurrency

EVENTS = 40


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_batch_deliver_each_event_once(project, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    items = [validate_event(event_type="APR_FAILED", title=f"APR {i} failed", entity_type="apr_session",
                            entity_id=str(i), status="FAILED") for i in range(EVENTS)]
    ids = [event.pk for event, _ in ingest_events(project, items)]
    with Receiver([200]) as receiver:
        Subscription.objects.create(project=project, name="APR failures", channel=Channel.WEBHOOK,
                                    target_url=receiver.url, event_types=["APR_FAILED"])
        # PostgreSQL: real parallelism, two threads with their own connections racing over the batch. SQLite's
        # in-memory test database locks whole tables across threads, so there the second worker runs after the first.
        parallel = connection.vendor == "postgresql"
        start = threading.Barrier(2 if parallel else 1)
        sent, errors = [], []

        def worker():
            try:
                start.wait()
                sent.append(sending.deliver_recorded(project.pk, Source.EVENT, ids))
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
            if not parallel:
                thread.join(timeout=60)
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sum(sent) == EVENTS
    assert Delivery.objects.count() == EVENTS
    delivered = sorted(int(r["headers"]["X-ActivityHub-Delivery"] and receiver.json(i)["data"]["event"]["id"])
                       for i, r in enumerate(receiver.requests))
    assert delivered == sorted(ids)
