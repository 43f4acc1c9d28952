"""Faults on PostgreSQL: a locked table and dropped connections give 503s (nothing stored), never a 500.

The lock and connection tests need PostgreSQL (timeouts, pg_terminate_backend): they run in the PostgreSQL half of CI.
"""

import json
import threading
import time
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
import requests
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.urls import reverse

from events.models import ActivityEvent
from projects.models import ApiKey

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL faults (CI runs them there)")


def other_connection():
    """A second, independent connection to the test database (as another client or process would hold)."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("options", None)
    return psycopg.connect(**params, autocommit=True)


@pytest.fixture
def token(project, owner):
    return ApiKey.objects.create_key(project=project, name="ci", scope="write", created_by=owner)[1]


@pytest.fixture
def short_lock_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


@pytest.fixture
def locked_events_table():
    holder = other_connection()
    holder.execute("BEGIN")
    holder.execute("SET LOCAL lock_timeout = '5s'")
    holder.execute(f"LOCK TABLE {ActivityEvent._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


@postgresql_only
def test_connections_carry_timeouts_below_the_worker_timeout(settings, transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        statement = cursor.fetchone()[0]
        cursor.execute("SHOW lock_timeout")
        lock = cursor.fetchone()[0]
    assert (statement, lock) == (f"{settings.DATABASE_STATEMENT_TIMEOUT_MS // 1000}s", f"{settings.DATABASE_LOCK_TIMEOUT_MS // 1000}s")
    assert 0 < settings.DATABASE_LOCK_TIMEOUT_MS <= settings.DATABASE_STATEMENT_TIMEOUT_MS < 30_000  # gunicorn's default


@postgresql_only
def test_api_write_on_a_locked_table_is_a_503_and_stores_nothing(client, token, transactional_db, short_lock_timeout,
                                                                  locked_events_table):
    started = time.monotonic()
    response = client.post("/api/v1/events", json.dumps({"event_type": "INDEXING_STARTED", "title": "t",
                                                         "entity_type": "indexing"}),
                           content_type="application/json", headers={"Authorization": f"Bearer {token}",
                                                                     "Idempotency-Key": "lock-1"})
    assert response.status_code == 503 and response["Retry-After"]
    assert "nothing was stored" in response.json()["detail"]
    assert time.monotonic() - started < 10  # answered by the lock timeout, not by a worker kill


@postgresql_only
def test_html_page_on_a_locked_table_is_the_friendly_503_page(client_for, project, viewer, transactional_db,
                                                                short_lock_timeout, locked_events_table):
    response = client_for(viewer).get(reverse("events:feed", args=[project.slug]))
    assert response.status_code == 503
    body = response.content.decode()
    assert "busy for a moment" in body and "nothing was changed" in body
    assert response["Retry-After"]


@postgresql_only
def test_nothing_was_stored_after_the_lock_is_released(client, token, transactional_db, short_lock_timeout):
    holder = other_connection()
    holder.execute("BEGIN")
    holder.execute(f"LOCK TABLE {ActivityEvent._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    body = json.dumps({"event_type": "INDEXING_STARTED", "title": "t", "entity_type": "indexing", "external_id": "x1"})
    response = client.post("/api/v1/events", body, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    holder.execute("ROLLBACK")
    holder.close()
    assert response.status_code == 503
    assert not ActivityEvent.objects.exists()


def _wsgi_get(app, path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "SERVER_NAME": "127.0.0.1", "HTTP_HOST": "127.0.0.1"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return int(status[0].split()[0]), body


@postgresql_only
def test_first_healthz_after_the_database_dropped_a_persistent_connection_succeeds(transactional_db):
    """With CONN_MAX_AGE, a connection the database killed is noticed and replaced (CONN_HEALTH_CHECKS)."""
    app = get_wsgi_application()  # a server's handler: connections are kept and checked between requests
    settings_dict = connection.settings_dict
    saved = settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"]
    settings_dict["CONN_MAX_AGE"] = 60
    connection.close()
    try:
        assert _wsgi_get(app, "/healthz")[0] == 200
        assert connection.connection is not None  # kept for the next request
        pid = connection.connection.info.backend_pid
        killer = other_connection()
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        killer.close()
        for _ in range(3):
            status, body = _wsgi_get(app, "/healthz")
            assert (status, json.loads(body)) == (200, {"status": "ok"})
    finally:
        settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"] = saved
        connection.close()


@postgresql_only
def test_killing_backends_mid_load_gives_no_500_and_loses_or_duplicates_no_event(live_server, project, viewer, token):
    """Writers retry on 503 with the same Idempotency-Key; readers load pages; a killer drops every backend."""
    writers, per_writer, kills = 3, 15, 15
    statuses, lock = [], threading.Lock()
    done = threading.Event()
    api = f"{live_server.url}/api/v1/events"

    def note(kind, status):
        with lock:
            statuses.append((kind, status))

    def writer(n):
        session = requests.Session()
        for i in range(per_writer):
            key = f"w{n}-{i}"
            body = {"event_type": "INDEXING_STARTED", "title": key, "entity_type": "indexing", "external_id": key}
            for _attempt in range(20):
                response = session.post(api, json=body, headers={"Authorization": f"Bearer {token}",
                                                                  "Idempotency-Key": key}, timeout=15)
                note("api", response.status_code)
                if response.status_code != 503:
                    break
                time.sleep(0.05)

    reader_session = requests.Session()  # signs in through the login form
    page = reader_session.get(f"{live_server.url}/login/", timeout=15)
    csrf = reader_session.cookies["csrftoken"]
    reader_session.post(f"{live_server.url}/login/", {"username": viewer.username, "password": f"pw-{viewer.username}",
                                                      "csrfmiddlewaretoken": csrf}, timeout=15)
    assert page.status_code == 200

    def reader():
        feed = f"{live_server.url}{reverse('events:feed', args=[project.slug])}"
        while not done.is_set():
            note("page", reader_session.get(feed, timeout=15).status_code)
            note("healthz", requests.get(f"{live_server.url}/healthz", timeout=15).status_code)

    terminated: list[bool] = []

    def killer():
        own = other_connection()
        for _ in range(kills):
            time.sleep(0.1)
            rows = own.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid() AND pid <> %s", [main_pid]).fetchall()
            terminated.extend(ok for (ok,) in rows if ok)
        own.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        main_pid = cursor.fetchone()[0]
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    side = [threading.Thread(target=reader), threading.Thread(target=killer)]
    for thread in threads + side:
        thread.start()
    for thread in threads + [side[1]]:
        thread.join(timeout=120)
    done.set()
    side[0].join(timeout=30)

    assert not any(status >= 500 and status != 503 for _, status in statuses), sorted(set(statuses))
    stored = list(ActivityEvent.objects.filter(project=project).values_list("external_id", flat=True))
    expected = {f"w{n}-{i}" for n in range(writers) for i in range(per_writer)}
    assert sorted(map(str, stored)) == sorted(expected)  # every event once: none lost, none twice
    assert any(kind == "page" and status == 200 for kind, status in statuses)
    assert terminated, "the killer found no backend to terminate: the load did not overlap the kills"


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_a_view_failing_on_a_lost_connection_answers_the_503_page_and_other_errors_stay_500(rf, error):
    from django import db

    from activityhub.faults import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = rf.get("/projects/acme/activity/?status=FAILED")
    response = middleware.process_exception(request, getattr(db, error)("the connection is closed"))
    assert response.status_code == 503 and b"busy for a moment" in response.content
    assert b"/projects/acme/activity/?status=FAILED" in response.content
    assert middleware.process_exception(request, db.OperationalError("no such table: events_activityevent")) is None


@postgresql_only
def test_migrate_runs_without_the_statement_timeout_and_restores_it(settings, transactional_db):
    seen = []

    def record(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            seen.append(cursor.fetchone()[0])

    from django.core.management import call_command
    from django.db.models.signals import pre_migrate

    pre_migrate.connect(record, weak=False, dispatch_uid="test-record-timeout")
    try:
        call_command("migrate", verbosity=0)
    finally:
        pre_migrate.disconnect(dispatch_uid="test-record-timeout")
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        after = cursor.fetchone()[0]
    assert seen and set(seen) == {"0"}  # an index build on a big table is not cancelled after 20 s
    assert after == f"{settings.DATABASE_STATEMENT_TIMEOUT_MS // 1000}s"
