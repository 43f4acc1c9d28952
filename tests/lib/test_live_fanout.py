"""lib/live: a publish in one process wakes a subscriber in another, on each transport (Redis pub/sub, PostgreSQL
LISTEN/NOTIFY, UNIX datagram sockets on SQLite); a subscriber hears only its own project."""

import asyncio
import os
import subprocess
import sys

import pytest

from lib import live
from lib.live import postgres_transport
from tests.system.processes import ROOT, TEST_REDIS_URL

# LISTEN/NOTIFY needs no table: the maintenance database every cluster has is enough.
PG_URL = os.environ.get("TEST_LIVE_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")

PUBLISH = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "activityhub.settings")
django.setup()
from lib.live import publish
publish(None if sys.argv[1] == "-" else int(sys.argv[1]), sys.argv[2], {"ids": [1, 2]})
"""


def publish_from_another_process(project_id, kind, **env):
    subprocess.run([sys.executable, "-c", PUBLISH, "-" if project_id is None else str(project_id), kind], cwd=ROOT,
                   env={**os.environ, **env}, check=True, timeout=60)


def hear(project_id, publish, timeout=10.0):
    """Subscribe to `project_id`, run `publish()` (in a thread: it starts another process), return what arrived."""

    async def run():
        async with live.subscribe(project_id) as messages:
            await asyncio.to_thread(publish)
            heard: list[live.Message] = []
            while (message := await messages.next(timeout=timeout if not heard else 0.5)) is not None:
                heard.append(message)
            return heard

    return asyncio.run(run())


def test_sockets_cross_processes_and_keep_projects_apart(settings, tmp_path):
    settings.LIVE_BACKEND, settings.LIVE_SOCKET_DIR = "sockets", str(tmp_path)
    env = {"LIVE_BACKEND": "sockets", "LIVE_SOCKET_DIR": str(tmp_path)}

    def publish():
        publish_from_another_process(8, "events", **env)  # another project's: not heard
        publish_from_another_process(7, "events", **env)

    heard = hear(7, publish)
    assert heard == [live.Message(7, "events", {"ids": [1, 2]})]


def test_redis_pubsub_crosses_processes(settings):
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {TEST_REDIS_URL} ({exc})")
    settings.LIVE_BACKEND, settings.LIVE_REDIS_URL = "redis", TEST_REDIS_URL
    settings.LIVE_CHANNEL_PREFIX = prefix = f"ah_test_live_{os.getpid()}"
    env = {"LIVE_BACKEND": "redis", "LIVE_REDIS_URL": TEST_REDIS_URL, "LIVE_CHANNEL_PREFIX": prefix}
    heard = hear(None, lambda: publish_from_another_process(None, "monitoring", **env))
    assert heard == [live.Message(None, "monitoring", {"ids": [1, 2]})]


def test_postgres_listen_notify_crosses_processes(settings, monkeypatch):
    import dj_database_url

    params = dj_database_url.parse(PG_URL)
    monkeypatch.setattr(postgres_transport, "_conninfo", lambda: {
        "dbname": params["NAME"], "user": params["USER"], "host": params["HOST"], "port": params["PORT"] or 5432})
    settings.LIVE_BACKEND = "postgres"
    env = {"DATABASE_URL": PG_URL, "LIVE_BACKEND": "postgres"}
    heard = hear(5, lambda: publish_from_another_process(5, "membership", **env))
    assert heard == [live.Message(5, "membership", {"ids": [1, 2]})]


def test_a_failing_transport_never_breaks_the_publisher(settings):
    settings.LIVE_BACKEND, settings.LIVE_REDIS_URL = "redis", "redis://127.0.0.1:1/0"  # nothing listens there
    live.publish(1, "events")  # logs, does not raise


def test_a_message_that_is_not_ours_is_ignored():
    assert live.decode("not json") is None
    assert live.decode('{"p": 3, "k": "events"}') == live.Message(3, "events", {})


# ----- where the app publishes: the one path each kind of change is recorded through -----

from tests.api_fixtures import *  # noqa: E402, F403


@pytest.mark.django_db(transaction=True)
def test_an_event_recorded_through_the_api_is_published_after_commit(settings, project, write_token, api_as, tmp_path):
    settings.LIVE_BACKEND, settings.LIVE_SOCKET_DIR = "sockets", str(tmp_path)

    def record():
        response = api_as(write_token).post("/events", {"event_type": "TEST_GENERATION", "title": "Tests written", "entity_type": "suite",
                                                        "status": "IN_PROGRESS"})
        assert response.status_code == 201, response.content
        return response.json()["id"]

    async def run():
        async with live.subscribe(project.pk) as messages:
            event_id = await asyncio.to_thread(record)
            return event_id, await messages.next(timeout=5)

    event_id, message = asyncio.run(run())
    assert message == live.Message(project.pk, "events", {"ids": [event_id]})
