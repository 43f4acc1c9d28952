"""Editing a health check on its own page: the same validation as adding one, manager-only, and never the daemon's
claim or alert state overwritten."""

import pytest
from django.urls import reverse

from monitoring.models import HealthCheck
from projects.models import Project


@pytest.fixture
def check(project):
    return HealthCheck.objects.create(project=project, check_id="api", check_name="API", url="https://api.example/health")


def edit_body(**changes):
    body = {"check_name": "API", "environment": "production", "url": "https://api.example/health", "method": "GET",
            "expected_status": 200, "timeout_ms": 5000, "interval_seconds": 60}
    return {**body, **changes}


def test_manager_edits_every_setting_of_a_check_and_the_board_shows_it(client_for, manager, check):
    client = client_for(manager)
    url = reverse("monitoring:health_edit", args=[check.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="https://api.example/health"' in page.content.decode()
    response = client.post(url, edit_body(url="https://api.example/ready", method="HEAD", expected_status=204,
                                          timeout_ms=2000, interval_seconds=300, environment="staging", paused="on"))
    assert response.status_code == 302 and response["Location"] == reverse("monitoring:health")
    check.refresh_from_db()
    assert (check.url, check.method, check.expected_status, check.timeout_ms, check.interval_seconds,
            check.environment, check.paused) == ("https://api.example/ready", "HEAD", 204, 2000, 300, "staging", True)
    assert (check.check_id, check.project_id) == ("api", check.project_id)  # id and project stay
    board = client.get(reverse("monitoring:health")).content.decode()
    assert "HEAD https://api.example/ready" in board and url in board


def test_an_edited_url_runs_at_once_and_the_daemons_claim_is_left_alone(client_for, manager, check):
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(hours=1)
    HealthCheck.objects.filter(pk=check.pk).update(due_at=later, claimed_by="daemon-1", alert_state="FAILING")
    response = client_for(manager).post(reverse("monitoring:health_edit", args=[check.pk]),
                                        edit_body(url="https://api.example/v2"))
    assert response.status_code == 302
    check.refresh_from_db()
    assert check.due_at < later and (check.claimed_by, check.alert_state) == ("daemon-1", "FAILING")


@pytest.mark.parametrize(("changes", "message"), [
    ({"url": "ftp://files.example/"}, "Enter an http:// or https:// URL."),
    ({"url": "https://api.example/\u202ehealth\u0000"}, "Null characters are not allowed."),
    ({"timeout_ms": 10**30}, "Timeout must be between 100 and 60000 ms."),
    ({"timeout_ms": 50}, "Timeout must be between 100 and 60000 ms."),
    ({"interval_seconds": 10**30}, "at least once a week"),
    ({"interval_seconds": 10**7}, "at least once a week"),
    ({"expected_status": 99999}, "Expected status must be an HTTP status code"),
    ({"method": "DELETE"}, "Select a valid choice."),
    ({"environment": "Prod 🚀"}, ""),
    ({"check_name": "\u0000"}, "Null characters are not allowed."),
    ({"timeout_ms": "١٢"}, "Timeout must be between 100 and 60000 ms."),  # Arabic-Indic digits: 12
])
def test_bad_edit_is_422_saying_what_was_wrong_and_changes_nothing(client_for, manager, check, changes, message):
    response = client_for(manager).post(reverse("monitoring:health_edit", args=[check.pk]), edit_body(**changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert 'class="errorlist' in response.content.decode()
    check.refresh_from_db()
    assert (check.url, check.timeout_ms, check.interval_seconds, check.method) == (
        "https://api.example/health", 5000, 60, "GET")


def test_internal_url_is_refused_where_the_guard_is_on(client_for, manager, check, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = client_for(manager).post(reverse("monitoring:health_edit", args=[check.pk]),
                                        edit_body(url="http://127.0.0.1:8080/admin"))
    assert response.status_code == 422
    check.refresh_from_db()
    assert check.url == "https://api.example/health"


@pytest.mark.parametrize("role", ["owner", "viewer", "outsider"])
def test_non_managers_get_403_on_the_edit_page_and_change_nothing(client_for, check, role, request):
    client = client_for(request.getfixturevalue(role))
    url = reverse("monitoring:health_edit", args=[check.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, edit_body(url="https://evil.example/")).status_code == 403
    check.refresh_from_db()
    assert check.url == "https://api.example/health"


def test_unknown_check_is_404_and_the_board_links_each_check_to_its_edit_page(client_for, manager, check):
    client = client_for(manager)
    assert client.get(reverse("monitoring:health_edit", args=[check.pk + 1000])).status_code == 404
    assert client.post(reverse("monitoring:health_edit", args=[check.pk + 1000]), edit_body()).status_code == 404
    detail = client.get(reverse("monitoring:health_detail", args=[check.pk])).content.decode()
    assert reverse("monitoring:health_edit", args=[check.pk]) in detail


def test_adding_the_same_id_in_another_project_works_on_the_page_but_not_twice_in_one(client_for, manager, check,
                                                                                    other_project):
    client = client_for(manager)
    body = {"check_name": "API", "check_id": "api", "url": "https://b.example/", "method": "GET",
            "expected_status": 200, "timeout_ms": 5000, "interval_seconds": 60}
    assert client.post(reverse("monitoring:health"), {**body, "project": other_project.pk}).status_code == 302
    twice = client.post(reverse("monitoring:health"), {**body, "project": check.project_id})
    assert twice.status_code == 422 and "A check with id &#x27;api&#x27; already exists in" in twice.content.decode()
    assert HealthCheck.objects.filter(check_id="api").count() == 2


@pytest.fixture
def other_project(outsider):
    return Project.objects.create(name="Other", slug="other", created_by=outsider)
