"""The live feed across two web nodes: an event recorded through the API on one node reaches the open feed streams
on both, through the fan-out each deployment has (Redis pub/sub when REDIS_URL is set, else PostgreSQL
LISTEN/NOTIFY). Each node is the Procfile's web role (gunicorn, one uvicorn worker) in a process of its own, as on
two machines; the test talks to each node directly, so it knows which one recorded the row and which one streams.

PostgreSQL only: two processes need a database server. Bounded: every read gives up after 10 s, before a stream's
15 s safety re-read could deliver a row the fan-out lost (that would hide the very failure this test is for).
"""

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from events.ingest import ingest_events, validate_event
from events.views.live import watermark_id
from lib.live.sse import SAFETY_SECONDS
from tests.api_fixtures import *  # noqa: F403
from tests.asgi_server import SseReader, session_cookie
from tests.system.processes import ROOT, TEST_REDIS_URL, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
READ_TIMEOUT = 10.0
assert READ_TIMEOUT < SAFETY_SECONDS  # a row arriving only by the safety re-read fails the test


class Node:
    def __init__(self, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "activityhub.asgi",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "3",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )

    def healthy(self):
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(params=["redis", "postgres"])
def two_nodes(request):
    if connection.vendor != "postgresql":
        pytest.skip("two server processes need a shared database server (run with DATABASE_URL=postgres://…)")
    db = connection.settings_dict
    env = {
        **os.environ,
        # The test database pytest-django created: these transactional tests commit their rows to it.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_REPLICA_URL": "",
        "SECRET_KEY": settings.SECRET_KEY,
        "API_KEY_HASH_SECRET": settings.API_KEY_HASH_SECRET,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "LIVE_BACKEND": request.param,
        # Pub/sub channels are shared by every Redis database: a channel of this test's own.
        "LIVE_REDIS_URL": TEST_REDIS_URL,
        "LIVE_CHANNEL_PREFIX": f"activityhub:test-live:{uuid.uuid4().hex}",
    }
    env.pop("REDIS_URL", None)
    nodes = [Node(env), Node(env)]
    try:
        for node in nodes:
            wait_for(node.healthy, timeout=60, what=f"the node on port {node.port}")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def record(node, token, title):
    body = json.dumps({"event_type": "TEST_GENERATION", "title": title, "entity_type": "suite"}).encode()
    request = urllib.request.Request(
        f"{node.url}/api/v1/events",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def open_feed(node, project, cookie):
    """A feed stream on `node` that is listening: it replays a row recorded before it opened, which it sends only
    once its process's listener has subscribed."""
    since = watermark_id(timezone.now() - timedelta(minutes=1))
    path = reverse("events:feed_stream", args=[project.slug]) + f"?since={since}"
    stream = SseReader(node, path, cookie=cookie, timeout=READ_TIMEOUT)
    assert stream.status == 200
    assert "Scaffolded the service" in stream.until("new-rows")["data"]
    return stream


def test_an_event_recorded_on_one_node_reaches_the_open_feeds_on_both(
    two_nodes, project, viewer, write_token
):
    ingest_events(
        project,
        [validate_event(event_type="CODE_SCAFFOLDING", title="Scaffolded the service", entity_type="repo")],
    )
    cookie = session_cookie(viewer)
    first, second = two_nodes
    streams = {
        "the other node": open_feed(first, project, cookie),
        "the same node": open_feed(second, project, cookie),
    }
    try:
        record(second, write_token, "Recorded on node two")
        for stream in streams.values():
            assert "Recorded on node two" in stream.until("new-rows")["data"]  # pushed: within READ_TIMEOUT
    finally:
        for stream in streams.values():
            stream.close()
