"""Subscriptions and deliveries in the HTTP API: a read-write key writes, another project's rows are 404."""

import pytest

from notifications import sending
from notifications.models import Channel, Delivery, Subscription
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

BASE = "/notifications/subscriptions"


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def other_token(other_project, outsider):
    return ApiKey.objects.create_key(project=other_project, name="theirs", scope="write", created_by=outsider)[1]


def rule(**fields):
    return {"name": "Failed APRs", "channel": "webhook", "target_url": "http://127.0.0.1:9/hook",
            "event_types": ["APR_FAILED"], **fields}


def test_create_returns_the_secret_once_and_list_never(api_as, write_token):
    api = api_as(write_token)
    created = api.post(BASE, rule())
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["APR_FAILED"]
    assert Subscription.objects.get().secret == body["secret"]
    [listed] = api.get(BASE).json()
    assert listed["secret"] is None and listed["id"] == body["id"]
    assert api.get(f"{BASE}/{body['id']}").json()["secret"] is None


def test_create_honours_the_idempotency_key(api_as, write_token):
    api = api_as(write_token)
    first = api.post(BASE, rule(), headers={"Idempotency-Key": "rule-1"})
    again = api.post(BASE, rule(), headers={"Idempotency-Key": "rule-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and Subscription.objects.count() == 1


def test_read_only_key_reads_but_cannot_write(api_as, read_token, write_token):
    created = api_as(write_token).post(BASE, rule()).json()
    api = api_as(read_token)
    assert api.get(BASE).status_code == 200
    assert api.post(BASE, rule()).status_code == 403
    assert api.patch(f"{BASE}/{created['id']}", {"name": "x"}).status_code == 403
    assert api.request("delete", f"{BASE}/{created['id']}").status_code == 403
    assert api.post(f"{BASE}/{created['id']}/rotate-secret").status_code == 403
    assert Subscription.objects.get().name == "Failed APRs"


def test_another_projects_subscription_is_404(api_as, write_token, other_token):
    created = api_as(write_token).post(BASE, rule()).json()
    theirs = api_as(other_token)
    assert theirs.get(BASE).json() == []
    for call in (lambda: theirs.get(f"{BASE}/{created['id']}"), lambda: theirs.patch(f"{BASE}/{created['id']}", {"name": "x"}),
                 lambda: theirs.request("delete", f"{BASE}/{created['id']}"),
                 lambda: theirs.get(f"{BASE}/{created['id']}/deliveries")):
        assert call().status_code == 404
    mine = Subscription.objects.get()
    delivery = Delivery.objects.create(**sending.destination_fields(mine.project, "event", "1", subscription=mine))
    assert theirs.post(f"/notifications/deliveries/{delivery.pk}/redeliver").status_code == 404
    assert Subscription.objects.get().name == "Failed APRs" and Delivery.objects.count() == 1


def test_update_and_delete(api_as, write_token):
    api = api_as(write_token)
    created = api.post(BASE, rule()).json()
    Subscription.objects.filter(pk=created["id"]).update(enabled=False, consecutive_failures=20, disabled_reason="x")
    updated = api.patch(f"{BASE}/{created['id']}", {"mode": "daily", "enabled": True})
    assert updated.status_code == 200
    assert (updated.json()["mode"], updated.json()["enabled"], updated.json()["consecutive_failures"]) == ("daily", True, 0)
    assert api.request("delete", f"{BASE}/{created['id']}").status_code == 204
    assert not Subscription.objects.exists()


def test_email_recipients_must_be_members(api_as, write_token, viewer, outsider):
    api = api_as(write_token)
    refused = api.post(BASE, rule(channel="email", target_url="", recipients=[outsider.username]))
    assert refused.status_code == 422 and outsider.username in refused.json()["detail"]
    ok = api.post(BASE, rule(channel="email", target_url="", recipients=[viewer.username]))
    assert ok.status_code == 201 and ok.json()["recipients"] == [viewer.username] and ok.json()["secret"] is None


@pytest.mark.parametrize("fields", [
    {"target_url": "ftp://example.com/"}, {"target_url": "not a url"}, {"target_url": ""},
    {"channel": "pager"}, {"event_types": ["NOPE"]}, {"name": ""}, {"name": "x\x00"}, {"name": "n" * 101},
    {"match_events": False, "match_actions": False}, {"mode": "weekly"},
    # "failed" was refused here; it is now the alias of FAILED (issue 26, tests/test_api_vocabulary.py)
    {"event_status": "finished"}, {"action_status": "done"},
])
def test_bad_input_is_a_422(api_as, write_token, fields):
    response = api_as(write_token).post(BASE, rule(**fields))
    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    assert not Subscription.objects.exists()


def test_private_addresses_are_refused_in_production(api_as, write_token, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = settings.OUTBOUND_ALLOW_PRIVATE = False
    for url in ("http://10.0.0.1/hook", "http://127.0.0.1:9/hook", "http://0177.0.0.1/", "http://[fd00::1]/"):
        response = api_as(write_token).post(BASE, rule(target_url=url))
        assert response.status_code == 422 and "target_url" in response.json()["detail"], url
    assert not Subscription.objects.exists()


def test_huge_ids_are_a_4xx(api_as, write_token):
    api = api_as(write_token)
    assert api.get(f"{BASE}/99999999999999999999999").status_code == 422
    assert api.get(f"{BASE}/9223372036854775807").status_code == 404
    assert api.post("/notifications/deliveries/0/redeliver").status_code == 422


def test_deliveries_list_and_redeliver(api_as, write_token):
    api = api_as(write_token)
    created = api.post(BASE, rule()).json()
    subscription = Subscription.objects.get()
    first = Delivery.objects.create(**sending.destination_fields(subscription.project, "event", "5",
                                                                 subscription=subscription),
                                    state="failed", status_code=500, error="HTTP 500")
    [listed] = api.get(f"{BASE}/{created['id']}/deliveries").json()
    assert (listed["status_code"], listed["delivery_id"], listed["attempt"]) == (500, first.delivery_id, 1)
    again = api.post(f"/notifications/deliveries/{first.pk}/redeliver")
    assert again.status_code == 202
    assert (again.json()["delivery_id"], again.json()["attempt"], again.json()["manual"]) == (first.delivery_id, 2, True)
    assert [d["attempt"] for d in api.get(f"{BASE}/{created['id']}/deliveries").json()] == [2, 1]


def test_subscriptions_are_in_the_openapi_document(api_as, write_token):
    paths = api_as(write_token).get("/openapi.json").json()["paths"]
    assert {"/api/v1/notifications/subscriptions", "/api/v1/notifications/subscriptions/{subscription_id}",
            "/api/v1/notifications/subscriptions/{subscription_id}/deliveries",
            "/api/v1/notifications/deliveries/{delivery_id}/redeliver"} <= set(paths)
    assert Channel.WEBHOOK in str(paths["/api/v1/notifications/subscriptions"])
