"""Two web nodes (separate gunicorn processes, as on two machines) sharing PostgreSQL and Redis agree.

Each test talks to each node directly, so it knows which one answered. PostgreSQL only: two processes need a
database server, not the suite's in-memory SQLite. Redis database 15 is this test's own.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from events.models import ActivityEvent
from projects.models import ApiKey

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/15"

pytestmark = pytest.mark.django_db(transaction=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def two_nodes(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("two server processes need a shared database server (run the suite with DATABASE_URL=postgres://…)")
    redis.Redis.from_url(REDIS_URL).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        # The test database pytest-django created: its data is committed by these transactional tests.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_REPLICA_URL": "",
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "API_KEY_HASH_SECRET": settings.API_KEY_HASH_SECRET,
        "API_RATE_LIMIT": "6/hour",  # fixed windows: an hour-long one is not crossed mid-test
        "LOG_LEVEL": "WARNING",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "activityhub.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        for port in ports
    ]
    try:
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if call(port, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"node on port {port} did not start"
                time.sleep(0.2)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def write_token(project, owner):
    return ApiKey.objects.create_key(project=project, name="ci", scope="write", created_by=owner)[1]


def test_two_nodes_count_one_api_rate_limit(two_nodes, write_token):
    headers = {"Authorization": f"Bearer {write_token}"}
    statuses = [call(two_nodes[i % 2], "GET", "/api/v1/feed", headers=headers)[0] for i in range(6)]
    assert statuses == [200] * 6  # three on each node: 6 is the key's budget across both
    assert call(two_nodes[0], "GET", "/api/v1/feed", headers=headers)[0] == 429
    assert call(two_nodes[1], "GET", "/api/v1/feed", headers=headers)[0] == 429


def test_a_retry_on_the_other_node_replays_the_first_nodes_answer(two_nodes, write_token, project):
    headers = {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json", "Idempotency-Key": "deploy-42"}
    body = {"event_type": "CODE_SCAFFOLDING", "title": "Scaffolded billing", "entity_type": "module",
            "entity_id": "billing", "status": "COMPLETED"}
    first = call(two_nodes[0], "POST", "/api/v1/events", body, headers)
    retry = call(two_nodes[1], "POST", "/api/v1/events", body, headers)
    assert first[0] == retry[0] == 201
    assert retry[2].get("Idempotent-Replayed") == "true"
    assert json.loads(retry[1]) == json.loads(first[1])
    assert ActivityEvent.objects.filter(project=project, title="Scaffolded billing").count() == 1


def test_a_session_signed_in_through_one_node_is_signed_in_on_the_other(two_nodes, owner, project):
    browser = Client()
    browser.force_login(owner)
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"}
    for port in two_nodes:
        status, page, _ = call(port, "GET", f"/projects/{project.slug}/activity/", headers=cookie)
        assert status == 200
        assert b"Acme API" in page
