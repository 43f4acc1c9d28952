"""8 concurrent writers × 10 batches of 50 events, every batch raced with its own retry under one Idempotency-Key,
leave exactly 4,000 events (80 keys raced: the race is per key, so small batches test it as well as big ones).

Each writer is a thread with its own database connection (real parallel transactions on PostgreSQL). Every batch
is sent twice at the same moment from two threads — a client that timed out and retried while the first attempt
was still running — and once more afterwards, so the key's claim is raced, waited on and replayed. On SQLite the
same threads run; writes there serialise on the database lock, and a request that finds the database busy gets a
503 and is retried with the same key, as a real client would.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from events.models import ActivityEvent
from projects.models import ApiKey, IdempotencyRecord
from tests.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.concurrency

WRITERS = 8
EVENTS_PER_WRITER = 500
BATCH = 50


def post_until_answered(token, body, key):
    """POST like a well-behaved client: on 429/503 wait and retry with the same Idempotency-Key."""
    client = Client()
    try:
        for attempt in range(1000):
            response = client.post(
                "/api/v1/events",
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
            if response.status_code not in (429, 503):
                return response.status_code, response.json()
            time.sleep(min(0.05, 0.002 * (attempt + 1)))
        raise AssertionError(f"{key}: still busy after 1000 attempts")
    finally:
        connections.close_all()  # this thread's connection; the test database must be droppable afterwards


def batch_body(writer, batch):
    start = batch * BATCH
    return {
        "events": [
            {
                "event_type": "CODE_SCAFFOLDING",
                "title": f"writer {writer} event {i}",
                "entity_type": "load_test",
                "entity_id": f"w{writer}",
                "metadata": {"writer": writer, "seq": i},
                "status": "COMPLETED",
            }
            for i in range(start, start + BATCH)
        ]
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_retrying_with_idempotency_keys_store_each_event_exactly_once(project, owner, settings):
    settings.API_RATE_LIMIT = "1000000/min"
    _, token = ApiKey.objects.create_key(project=project, name="load", scope="write", created_by=owner)
    problems = []

    def writer(w):
        with ThreadPoolExecutor(2) as racers:
            for b in range(EVENTS_PER_WRITER // BATCH):
                body, key = batch_body(w, b), f"writer-{w}-batch-{b}"
                # The original and its impatient retry, in flight together.
                racing = [racers.submit(post_until_answered, token, body, key) for _ in range(2)]
                first, second = (future.result() for future in racing)
                late = post_until_answered(token, body, key)  # and a retry long after
                for status, answer in (first, second, late):
                    if status != 201:
                        problems.append(f"{key}: {status} {answer}")
                if not (first[1] == second[1] == late[1]):
                    problems.append(f"{key}: retries got a different response than the original")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not problems, problems[:5]
    events = ActivityEvent.objects.filter(project=project)
    assert events.count() == WRITERS * EVENTS_PER_WRITER == 4_000
    assert events.values("title").distinct().count() == 4_000  # nothing duplicated, nothing lost
    for w in range(WRITERS):
        seqs = sorted(events.filter(entity_id=f"w{w}").values_list("metadata__seq", flat=True))
        assert seqs == list(range(EVENTS_PER_WRITER))
    assert IdempotencyRecord.objects.count() == WRITERS * EVENTS_PER_WRITER // BATCH


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_of_one_external_id_store_one_event(project, owner, settings):
    settings.API_RATE_LIMIT = "1000000/min"
    _, token = ApiKey.objects.create_key(project=project, name="load", scope="write", created_by=owner)
    body = {"event_type": "INDEXING_STARTED", "title": "index", "entity_type": "indexing", "external_id": "run-1"}

    def send(i):
        client = Client()
        try:
            for attempt in range(200):
                response = client.post(
                    "/api/v1/events", body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code not in (409, 429, 503):
                    return response.status_code, response.json()["id"]
                time.sleep(0.01 * (attempt + 1))
            raise AssertionError("still busy")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({event_id for _, event_id in results}) == 1
    assert ActivityEvent.objects.filter(external_id="run-1").count() == 1
