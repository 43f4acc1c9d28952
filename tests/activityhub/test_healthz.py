"""/healthz tells a load balancer the database is up; /healthz?deep=1 tells an operator the schema is right."""

import pytest
from django.db import connection

from projects.models import ApiKey
from tests.schema_drift import drifted


@pytest.fixture
def api_token(project):
    _, token = ApiKey.objects.create_key(project=project, name="deploy pipeline", scope="read")
    return token


@pytest.mark.django_db
def test_shallow_healthz_needs_no_login_and_reveals_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_deep_healthz_without_credentials_is_401(client):
    response = client.get("/healthz?deep=1")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "findings" not in response.content.decode()


@pytest.mark.django_db
def test_deep_healthz_rejects_a_non_staff_user_and_an_unknown_key(client_for, owner, client):
    assert client_for(owner).get("/healthz?deep=1").status_code == 403
    client.logout()
    response = client.get("/healthz?deep=1", headers={"Authorization": "Bearer ah_deadbeef_not-a-real-key"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_deep_healthz_for_staff_reports_database_migrations_and_schema(client_for, staff):
    response = client_for(staff).get("/healthz?deep=1")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"reachable": True, "vendor": connection.vendor}
    assert body["migrations"] == {"applied": True, "unapplied": []}
    assert body["schema"]["ok"] is True and body["schema"]["findings"] == []
    assert body["schema"]["tables_checked"] >= 20


@pytest.mark.django_db
def test_deep_healthz_accepts_an_api_key(client, api_token):
    response = client.get("/healthz?deep=1", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_deep_healthz_is_503_and_names_the_drift(client, api_token):
    with drifted("DROP INDEX event_project_type_created"):
        response = client.get("/healthz?deep=1", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "drift"
    assert body["migrations"]["applied"] is True
    [finding] = body["schema"]["findings"]
    assert finding["object"] == "events_activityevent.event_project_type_created"


@pytest.mark.django_db(transaction=True)
def test_deep_healthz_is_503_when_a_migration_is_not_applied(client_for, staff):
    client = client_for(staff)
    with drifted("DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'"):
        response = client.get("/healthz?deep=1")
    assert response.status_code == 503
    body = response.json()
    assert body["migrations"] == {"applied": False, "unapplied": ["sessions.0001_initial"]}
    assert body["schema"]["ok"] is True  # the tables themselves are fine


@pytest.mark.django_db
def test_healthz_rejects_a_bad_deep_value_and_other_methods(client):
    response = client.get("/healthz?deep=maybe")
    assert response.status_code == 400
    assert "deep" in response.json()["error"]
    assert client.post("/healthz").status_code == 405
