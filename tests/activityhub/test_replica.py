"""Read replica routing on a real PostgreSQL streaming replica (scripts/replica.sh up; .ci/run does it).

Run with DATABASE_URL and DATABASE_REPLICA_URL naming the same database on the primary and the replica:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ah DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:5433/ah \\
        .venv/bin/python -m pytest -m replica -n 0
The replica alias is a test mirror of default: the test database pytest-django creates on the primary reaches the
replica by WAL replay. These tests pause and resume that replay, and stop and start the replica, so they run
serially (-n 0). Without DATABASE_REPLICA_URL they are skipped.
"""

import json
import logging
import os
import subprocess
import time

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from activityhub import db_router
from events.models import ActivityEvent
from events.models.feeds import FeedToken
from projects.models import ApiKey

pytestmark = [
    pytest.mark.replica,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_REPLICA_URL"),
        reason="needs DATABASE_REPLICA_URL (scripts/replica.sh up)",
    ),
    pytest.mark.django_db(transaction=True, databases="__all__"),
]
# pg_ctlcluster VERSION NAME of the replica, for the tests that stop it.
REPLICA_CLUSTER = os.environ.get("REPLICA_CLUSTER", "15 replica").split()


def primary_lsn():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def wait_for_replay(timeout=30):
    """Until the replica has replayed everything the primary has written so far (real WAL replay)."""
    target = primary_lsn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connections["replica"].cursor() as cursor:
                cursor.execute("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", [target])
                if cursor.fetchone()[0]:
                    return
        except Exception:  # the test database may not exist on the replica yet
            connections["replica"].close()
        time.sleep(0.05)
    raise AssertionError(f"the replica did not replay up to {target} within {timeout}s")


def replica_sql(sql):
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql)


@pytest.fixture(autouse=True)
def fresh_routing(settings):
    settings.REPLICA_CHECK_SECONDS = (
        0  # probe on every lag-tolerant request: the tests change the replica's state
    )
    settings.REPLICA_MAX_LAG_SECONDS = 3600
    settings.API_RATE_LIMIT = "100000/min"
    db_router._health.clear()
    cache.clear()
    yield
    db_router._health.clear()
    cache.clear()


@pytest.fixture
def paused_replay():
    """The replica stops applying WAL: whatever the primary writes next is not on the replica until resumed."""
    wait_for_replay()
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
        wait_for_replay()


@pytest.fixture
def stopped_replica():
    def control(action):
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                *REPLICA_CLUSTER,
                action,
                *(["-m", "fast"] if action == "stop" else []),
            ],
            check=True,
            capture_output=True,
        )

    wait_for_replay()
    control("stop")
    try:
        yield
    finally:
        control("start")
        connections["replica"].close()
        wait_for_replay()


def record(project, title):
    return ActivityEvent.objects.create(
        project=project, event_type="CODE_SCAFFOLDING", title=title, status="COMPLETED"
    )


def feed_titles(client, project):
    response = client.get(f"/projects/{project.slug}/activity/")
    assert response.status_code == 200
    return response.content.decode()


def replica_queries(fn):
    """fn()'s result and the app queries it sent to the replica (not the health probe's)."""
    with CaptureQueriesContext(connections["replica"]) as captured:
        result = fn()
    return result, [q["sql"] for q in captured.captured_queries if "pg_is_in_recovery" not in q["sql"]]


def test_feed_page_reads_from_the_replica(client_for, owner, project):
    record(project, "Scaffolded the orders module")
    wait_for_replay()
    page, queries = replica_queries(lambda: feed_titles(client_for(owner), project))
    assert "Scaffolded the orders module" in page
    assert any("events_activityevent" in sql for sql in queries)


def test_replica_serves_what_it_has_replayed_so_a_write_it_has_not_replayed_is_not_on_the_feed(
    client_for, owner, project, paused_replay
):
    record(project, "Replayed long ago")
    # Written while replay is paused: on the primary, not yet on the replica.
    assert "Replayed long ago" not in feed_titles(client_for(owner), project)
    assert ActivityEvent.objects.filter(title="Replayed long ago").exists()


@pytest.mark.parametrize("export", ["activity/export.csv", "activity/export.jsonl", "audit/export.csv"])
def test_exports_stream_from_the_replica(client_for, owner, project, paused_replay, export):
    """The exports' COPY runs on the request's read alias: what the replica has not replayed is not in them."""
    from events.models import ProjectAction

    record(project, "Recorded while replay is paused")
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Paused-replay deploy")
    response = client_for(owner).get(f"/projects/{project.slug}/{export}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "Recorded while replay is paused" not in body and "Paused-replay deploy" not in body
    assert ActivityEvent.objects.filter(title="Recorded while replay is paused").exists()


def test_exports_stream_what_the_replica_has_replayed(client_for, owner, project):
    record(project, "Replayed before the export")
    wait_for_replay()
    response = client_for(owner).get(f"/projects/{project.slug}/activity/export.csv")
    assert "Replayed before the export" in b"".join(response.streaming_content).decode()


def test_pages_that_are_not_lag_tolerant_read_the_primary(client_for, owner, project):
    wait_for_replay()
    response, queries = replica_queries(lambda: client_for(owner).get(f"/projects/{project.slug}/settings/"))
    assert response.status_code == 200
    assert queries == []


def test_a_session_that_wrote_reads_from_the_primary_while_other_sessions_use_the_replica(
    client_for, owner, viewer, project, client, paused_replay
):
    from django.test import Client

    owner_client = client_for(owner)
    response = owner_client.post(
        f"/projects/{project.slug}/settings/api-keys/", {"name": "deploys", "scope": "read"}
    )
    assert response.status_code == 201
    assert owner_client.cookies[db_router.STICKY_COOKIE]["max-age"] == 5
    record(project, "Written after the key")
    assert "Written after the key" in feed_titles(owner_client, project)

    other = Client()
    other.force_login(viewer)
    assert "Written after the key" not in feed_titles(other, project)


def test_an_api_key_that_wrote_reads_its_own_write_from_the_primary(project, owner, paused_replay):
    from tests.api_fixtures import ApiClient

    _, write_token = ApiKey.objects.create_key(project=project, name="ci", scope="write", created_by=owner)
    _, read_token = ApiKey.objects.create_key(
        project=project, name="dashboards", scope="read", created_by=owner
    )
    writer, reader = ApiClient(write_token), ApiClient(read_token)
    reader.get("/feed")  # the read key's last-use stamp is a write: get it and its stickiness out of the way
    reader.client.cookies.clear()
    cache.clear()
    created = writer.post(
        "/events",
        {
            "event_type": "TEST_GENERATION",
            "title": "Generated order tests",
            "entity_type": "suite",
            "entity_id": "orders",
            "status": "COMPLETED",
        },
    )
    assert created.status_code == 201

    mine = writer.get("/feed")
    assert [e["title"] for e in mine.json()["events"]] == ["Generated order tests"]
    others = reader.get("/feed")
    assert others.status_code == 200
    assert others.json()["events"] == []  # the replica has not replayed it yet


def test_a_replica_lagging_past_the_limit_is_skipped_and_the_fallback_is_logged(
    client_for, owner, project, settings, paused_replay, caplog
):
    settings.REPLICA_MAX_LAG_SECONDS = 0
    record(project, "Only on the primary")
    with caplog.at_level(logging.WARNING, logger="activityhub.db_router"):
        page, queries = replica_queries(lambda: feed_titles(client_for(owner), project))
    assert "Only on the primary" in page
    assert queries == []
    assert "Read replica replica skipped, reads go to the primary" in caplog.text


def test_a_stopped_replica_falls_back_to_the_primary_without_a_500(
    client_for, owner, project, stopped_replica, caplog
):
    record(project, "Served while the replica is down")
    with caplog.at_level(logging.WARNING, logger="activityhub.db_router"):
        page = feed_titles(client_for(owner), project)
        export = client_for(owner).get(f"/projects/{project.slug}/activity/export.csv")
    assert "Served while the replica is down" in page
    assert export.status_code == 200
    assert "unreachable" in caplog.text


def test_a_replica_that_dies_during_a_request_reruns_the_view_on_the_primary(
    client_for, owner, project, settings, caplog
):
    settings.REPLICA_CHECK_SECONDS = (
        3600  # the probe says healthy; the failure comes in the view's own queries
    )
    record(project, "Still served")
    # The feed page creates a member's feed token on the first visit: a write, which would keep the session on the
    # primary for a few seconds (read-your-writes). Created beforehand, the visits below only read.
    FeedToken.objects.for_user(owner)
    wait_for_replay()
    owner_client = client_for(owner)
    assert "Still served" in feed_titles(owner_client, project)  # opens the replica connection
    assert db_router._health["replica"].usable
    # Cut this process's replica connection from the replica's side, as a replica restart would.
    replica = connections["replica"].settings_dict
    subprocess.run(
        [
            "psql",
            "-h",
            replica["HOST"],
            "-p",
            str(replica["PORT"]),
            "-U",
            "postgres",
            "-XAtqc",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{replica['NAME']}' "
            "AND pid <> pg_backend_pid()",
        ],
        check=True,
        capture_output=True,
    )
    with caplog.at_level(logging.WARNING, logger="activityhub.db_router"):
        assert "Still served" in feed_titles(owner_client, project)
    assert "failed during a request, re-running it on the primary" in caplog.text


def cut_replica_connections():
    """Terminate this database's sessions on the replica from the replica's side, as a replica restart would."""
    replica = connections["replica"].settings_dict
    subprocess.run(
        [
            "psql",
            "-h",
            replica["HOST"],
            "-p",
            str(replica["PORT"]),
            "-U",
            "postgres",
            "-XAtqc",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{replica['NAME']}' "
            "AND pid <> pg_backend_pid()",
        ],
        check=True,
        capture_output=True,
    )


def test_an_export_whose_replica_dies_before_its_first_row_streams_whole_from_the_primary(
    client_for, owner, project, settings, caplog
):
    settings.REPLICA_CHECK_SECONDS = 3600  # the probe says healthy; the failure comes when the COPY starts
    for i in range(3):
        record(project, f"Exported {i}")
    FeedToken.objects.for_user(owner)
    wait_for_replay()
    owner_client = client_for(owner)
    assert "Exported 0" in feed_titles(owner_client, project)  # opens the replica connection, health cached
    response = owner_client.get(f"/projects/{project.slug}/activity/export.csv")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    header = next(chunks)  # the view has run and chosen the replica; the COPY opens on the next chunk
    cut_replica_connections()
    with caplog.at_level(logging.WARNING, logger="events.views.activity"):
        body = (header + b"".join(chunks)).decode()
    assert "failed before an export's first row, streaming it from the primary" in caplog.text
    lines = body.splitlines()
    assert len(lines) == 4 and lines[0].startswith("id,")  # one header, then the three events
    assert [sum(f"Exported {i}" in line for line in lines[1:]) for i in range(3)] == [1, 1, 1]  # each once


def test_an_api_read_whose_replica_dies_answers_503_and_its_retry_reads_the_primary(
    project, owner, settings, caplog
):
    from tests.api_fixtures import ApiClient

    settings.REPLICA_CHECK_SECONDS = 3600
    _, read_token = ApiKey.objects.create_key(
        project=project, name="dashboards", scope="read", created_by=owner
    )
    record(project, "Read after the retry")
    wait_for_replay()
    reader = ApiClient(read_token)
    reader.get("/feed")  # stamps the key's last use (a write), then opens the replica connection
    reader.client.cookies.clear()
    cache.clear()
    assert reader.get("/feed").status_code == 200
    cut_replica_connections()
    with caplog.at_level(logging.WARNING, logger="activityhub.db_router"):
        failed = reader.get("/feed")
    assert failed.status_code == 503
    assert failed["Retry-After"] == "1"
    assert "the client's retry reads the primary" in caplog.text
    retry = reader.get("/feed")
    assert [e["title"] for e in retry.json()["events"]] == ["Read after the retry"]


def test_deep_health_reports_each_replica_and_its_lag(client_for, staff):
    wait_for_replay()
    body = client_for(staff).get("/healthz?deep=1").json()
    assert body["status"] == "ok"
    [replica] = body["replicas"]
    assert replica["alias"] == "replica"
    assert replica["reachable"] is True and replica["in_use"] is True
    assert 0 <= replica["lag_seconds"] <= replica["max_lag_seconds"]
    assert replica["schema"]["ok"] is True


def test_deep_health_is_degraded_while_the_replica_lags_past_the_limit(
    client_for, staff, project, settings, paused_replay
):
    settings.REPLICA_MAX_LAG_SECONDS = 0
    record(project, "Not replayed")
    response = client_for(staff).get("/healthz?deep=1")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["replicas"][0]["in_use"] is False
    assert body["replicas"][0]["lag_seconds"] > 0


def test_check_schema_checks_the_primary_and_each_replica(capsys):
    wait_for_replay()
    call_command("check_schema", "--format", "json")
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert set(report["databases"]) == {"default", "replica"}
    assert report["databases"]["replica"]["tables_checked"] > 20
