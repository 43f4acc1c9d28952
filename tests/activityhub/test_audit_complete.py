"""The audit trail is complete by construction: every mutating route of the URLconf and of the OpenAPI document is
performed here and must leave an entry with the right action, target and actor (user or API key, with the
client's address). A route added later fails `test_every_route_is_classified` until it is given a recipe here
(or a reason in EXEMPT)."""

import re

import pytest
from django.urls import reverse

from events.models import ProjectAction
from monitoring.models import HealthCheck, WorkflowSchedule
from notifications import sending
from notifications.models import Channel, Delivery, Subscription
from projects.models import ApiKey, AuditStream, Membership
from tests.activityhub.test_render_sweep import ROUTES
from tests.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.9"
AGENT = "AuditTest/1.0"

# Routes that change no project state, each with the reason.
EXEMPT = {
    "login": "signing in changes no project (django-axes records the attempts)",
    "logout": "signing out changes no project",
    "ping:success": "a cron check-in records a run (reported data with its own log), not a setting",
    "ping:start": "a cron check-in records a run (reported data with its own log), not a setting",
    "ping:fail": "a cron check-in records a run (reported data with its own log), not a setting",
    "ping:exit_status": "a cron check-in records a run (reported data with its own log), not a setting",
    "events:feedback": "a member's feedback on an answer is conversation data (a MessageEvent with its user)",
    "events:copy": "copying an answer is conversation data (a MessageEvent with its user)",
    "events:copy_usage": "how a copied answer is used is conversation data (a MessageEvent with its user)",
    "events:bookmark": "a member's own bookmark, not the project's state",
    "events:bookmark_remove": "a member's own bookmark, not the project's state",
    "notifications:watch": "a member's own watch list, not the project's state",
    "notifications:preferences": "a member's own notification preferences, not the project's state",
    "notifications:unsubscribe": "a member's one-click unsubscribe turns off their own notifications and watches",
}
API_EXEMPT = {
    ("post", "/api/v1/events"): "activity events are the project's data (each row carries its key's project)",
    ("patch", "/api/v1/events/{event_id}"): "finishing an activity event is the project's data, not a setting",
    ("post", "/api/v1/conversations"): "conversations are the project's data",
    ("post", "/api/v1/conversations/{conversation_id}/messages"): "messages are the project's data",
    ("post", "/api/v1/message-events"): "message events are the project's data",
    ("post", "/api/v1/monitoring/runs/start"): "workflow runs are reported data with their own log",
    ("post", "/api/v1/monitoring/runs/{run_id}/finish"): "workflow runs are reported data with their own log",
    ("post", "/api/v1/monitoring/metrics"): "workflow metrics are reported data",
}


@pytest.fixture
def world(project, owner, viewer, manager, outsider):
    Membership.objects.create(project=project, user=manager, role="owner")
    key, token = ApiKey.objects.create_key(project=project, name="ci", scope="write", created_by=owner)
    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="0 2 * * *")
    check = HealthCheck.objects.create(project=project, check_id="api", check_name="API",
                                       url="http://127.0.0.1:9/health")
    subscription = Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK,
                                               target_url="http://127.0.0.1:9/hook", secret="whsec_x")
    delivery = Delivery.objects.create(**sending.destination_fields(project, "event", "1", subscription=subscription))
    revocable, _ = ApiKey.objects.create_key(project=project, name="old", scope="read", created_by=owner)
    AuditStream.objects.create(project=project, url="http://127.0.0.1:9/audit", secret="whsec_audit")
    return {"project": project, "owner": owner, "viewer": viewer, "manager": manager, "outsider": outsider,
            "key": key, "token": token, "schedule": schedule, "check": check, "subscription": subscription,
            "delivery": delivery, "revocable": revocable}


def _sub_form(**fields):
    return {"name": "Failures to CI", "channel": "webhook", "target_url": "http://127.0.0.1:9/hook", "mode": "immediate",
            "match_events": "on", "event_status": "FAILED", **fields}


CHECK_FORM = {"check_name": "Web", "check_id": "web", "environment": "production", "url": "http://127.0.0.1:9/",
              "method": "GET", "expected_status": 200, "timeout_ms": 1000, "interval_seconds": 60}

# name → (who, url(w), data(w), action, target_type). Members post as owner; monitoring pages as the manager.
PAGE_WRITES = {
    "projects:list": ("owner", lambda w: reverse("projects:list"), lambda w: {"name": "Rocket", "slug": "rocket"},
                      "project_created", "project"),
    "projects:member_add": ("owner", lambda w: reverse("projects:member_add", args=[w["project"].slug]),
                            lambda w: {"username": w["outsider"].username, "role": "viewer"}, "member_added", "member"),
    "projects:member_role": ("owner", lambda w: reverse("projects:member_role", args=[
        w["project"].slug, Membership.objects.get(user=w["viewer"]).pk]), lambda w: {"role": "editor"},
        "member_role_changed", "member"),
    "projects:member_remove": ("owner", lambda w: reverse("projects:member_remove", args=[
        w["project"].slug, Membership.objects.get(user=w["viewer"]).pk]), lambda w: {}, "member_removed", "member"),
    "projects:retention_update": ("owner", lambda w: reverse("projects:retention_update", args=[w["project"].slug]),
                                  lambda w: {"retention_days": 30, "confirm": "1"}, "retention_changed", "project"),
    "projects:api_key_create": ("owner", lambda w: reverse("projects:api_key_create", args=[w["project"].slug]),
                                lambda w: {"name": "deploy", "scope": "read"}, "api_key_created", "api_key"),
    "projects:api_key_revoke": ("owner", lambda w: reverse("projects:api_key_revoke", args=[
        w["project"].slug, w["revocable"].pk]), lambda w: {}, "api_key_revoked", "api_key"),
    "projects:audit_stream_save": ("owner", lambda w: reverse("projects:audit_stream_save", args=[w["project"].slug]),
                                   lambda w: {"url": "http://127.0.0.1:9/audit-2"}, "audit_stream_changed", "audit_stream"),
    "projects:audit_stream_pause": ("owner", lambda w: reverse("projects:audit_stream_pause", args=[w["project"].slug]),
                                    lambda w: {"paused": "1"}, "audit_stream_paused", "audit_stream"),
    "projects:audit_stream_remove": ("owner", lambda w: reverse("projects:audit_stream_remove", args=[
        w["project"].slug]), lambda w: {"confirm": "1"}, "audit_stream_removed", "audit_stream"),
    "projects:audit_stream_ping": ("owner", lambda w: reverse("projects:audit_stream_ping", args=[w["project"].slug]),
                                   lambda w: {}, "audit_stream_test_delivery_sent", "audit_stream"),
    "events:feed_token_reset": ("viewer", lambda w: reverse("events:feed_token_reset", args=[w["project"].slug]),
                                lambda w: {}, "feed_token_reset", "feed_token"),
    "monitoring:schedules": ("manager", lambda w: reverse("monitoring:schedules"), lambda w: {
        "project": w["project"].pk, "workflow_name": "weekly", "cron_expression": "0 6 * * 1", "timezone": "UTC",
        "grace_period_seconds": 600, "environment": "production"}, "schedule_created", "schedule"),
    "monitoring:schedule_edit": ("manager", lambda w: reverse("monitoring:schedule_edit", args=[
        w["schedule"].schedule_id]), lambda w: {
        "project": w["project"].pk, "workflow_name": "nightly", "cron_expression": "0 3 * * *", "timezone": "UTC",
        "grace_period_seconds": 300, "environment": w["schedule"].environment}, "schedule_changed", "schedule"),
    "monitoring:schedule_toggle": ("manager", lambda w: reverse("monitoring:schedule_toggle", args=[
        w["schedule"].schedule_id]), lambda w: {}, "schedule_paused", "schedule"),
    "monitoring:schedule_delete": ("manager", lambda w: reverse("monitoring:schedule_delete", args=[
        w["schedule"].schedule_id]), lambda w: {}, "schedule_deleted", "schedule"),
    "monitoring:schedule_ping_url": ("manager", lambda w: reverse("monitoring:schedule_ping_url", args=[
        w["schedule"].schedule_id]), lambda w: {}, "schedule_ping_url_rotated", "schedule"),
    "monitoring:health": ("manager", lambda w: reverse("monitoring:health"),
                          lambda w: {**CHECK_FORM, "project": w["project"].pk}, "health_check_created", "health_check"),
    "monitoring:health_edit": ("manager", lambda w: reverse("monitoring:health_edit", args=[w["check"].pk]),
                               lambda w: {**CHECK_FORM, "check_name": "API", "interval_seconds": 120},
                               "health_check_changed", "health_check"),
    "monitoring:health_toggle": ("manager", lambda w: reverse("monitoring:health_toggle", args=[w["check"].pk]),
                                 lambda w: {}, "health_check_paused", "health_check"),
    "monitoring:health_delete": ("manager", lambda w: reverse("monitoring:health_delete", args=[w["check"].pk]),
                                 lambda w: {}, "health_check_removed", "health_check"),
    "monitoring:workflow_sensitivity": ("manager", lambda w: reverse("monitoring:workflow_sensitivity"), lambda w: {
        "project": w["project"].pk, "workflow_name": "backup", "environment": "production", "sensitivity": "high"},
        "anomaly_sensitivity_changed", "workflow"),
    "notifications:subscription_create": ("owner", lambda w: reverse("notifications:subscription_create", args=[
        w["project"].slug]), lambda w: _sub_form(), "subscription_created", "subscription"),
    "notifications:subscription": ("owner", lambda w: reverse("notifications:subscription", args=[
        w["project"].slug, w["subscription"].pk]), lambda w: _sub_form(name="Renamed hook"),
        "subscription_changed", "subscription"),
    "notifications:subscription_enable": ("owner", lambda w: reverse("notifications:subscription_enable", args=[
        w["project"].slug, w["subscription"].pk]), lambda w: {"enabled": "0"}, "subscription_paused", "subscription"),
    "notifications:subscription_delete": ("owner", lambda w: reverse("notifications:subscription_delete", args=[
        w["project"].slug, w["subscription"].pk]), lambda w: {}, "subscription_deleted", "subscription"),
    "notifications:subscription_rotate": ("owner", lambda w: reverse("notifications:subscription_rotate", args=[
        w["project"].slug, w["subscription"].pk]), lambda w: {}, "subscription_secret_rotated", "subscription"),
    "notifications:subscription_ping": ("owner", lambda w: reverse("notifications:subscription_ping", args=[
        w["project"].slug, w["subscription"].pk]), lambda w: {}, "subscription_test_delivery_sent", "subscription"),
    "notifications:redeliver": ("owner", lambda w: reverse("notifications:redeliver", args=[
        w["project"].slug, w["subscription"].pk, w["delivery"].pk]), lambda w: {}, "delivery_redelivered", "delivery"),
}

# Routes that only read (pages, exports, feeds; the admin's saves are AuditedAdmin's, tested below).
READ_NAME = re.compile(r"^(admin:|home$|favicon$|healthz$|projects:(console|settings|audit_stream_delivery)$|events:(feed|event_detail|"
                       r"feed_stream|feed_export_csv|feed_export_jsonl|feed_atom|feed_json|insights|audit|audit_export_csv|"
                       r"audit_export_jsonl|conversations|conversation|quality|bookmarks)$|monitoring:(overview|changes|"
                       r"schedule_detail|health_detail|removed_check_history|reports|report_detail|run_detail|"
                       r"notifications|stream)$|notifications:(subscriptions|delivery)$)")

# (method, OpenAPI path) → (path(w), body(w), action, target_type)
API_WRITES = {
    ("post", "/api/v1/actions"): (lambda w: "/actions", lambda w: {"action_type": "deployment"}, "deployment", ""),
    ("post", "/api/v1/monitoring/schedules"): (lambda w: "/monitoring/schedules", lambda w: {
        "workflow_name": "api-made", "cron_expression": "0 4 * * *"}, "schedule_created", "schedule"),
    ("patch", "/api/v1/monitoring/schedules/{schedule_id}"): (
        lambda w: f"/monitoring/schedules/{w['schedule'].schedule_id}", lambda w: {"cron_expression": "0 5 * * *"},
        "schedule_changed", "schedule"),
    ("post", "/api/v1/monitoring/health-checks"): (lambda w: "/monitoring/health-checks", lambda w: {
        "check_name": "Edge", "url": "http://127.0.0.1:9/edge"}, "health_check_created", "health_check"),
    ("patch", "/api/v1/monitoring/health-checks/{check_id}"): (
        lambda w: f"/monitoring/health-checks/{w['check'].check_id}", lambda w: {"timeout_ms": 2000},
        "health_check_changed", "health_check"),
    ("post", "/api/v1/notifications/subscriptions"): (lambda w: "/notifications/subscriptions", lambda w: {
        "name": "API hook", "channel": "webhook", "target_url": "http://127.0.0.1:9/api-hook"},
        "subscription_created", "subscription"),
    ("patch", "/api/v1/notifications/subscriptions/{subscription_id}"): (
        lambda w: f"/notifications/subscriptions/{w['subscription'].pk}", lambda w: {"enabled": False},
        "subscription_paused", "subscription"),
    ("delete", "/api/v1/notifications/subscriptions/{subscription_id}"): (
        lambda w: f"/notifications/subscriptions/{w['subscription'].pk}", lambda w: None,
        "subscription_deleted", "subscription"),
    ("post", "/api/v1/notifications/subscriptions/{subscription_id}/rotate-secret"): (
        lambda w: f"/notifications/subscriptions/{w['subscription'].pk}/rotate-secret", lambda w: None,
        "subscription_secret_rotated", "subscription"),
    ("post", "/api/v1/notifications/subscriptions/{subscription_id}/ping"): (
        lambda w: f"/notifications/subscriptions/{w['subscription'].pk}/ping", lambda w: None,
        "subscription_test_delivery_sent", "subscription"),
    ("post", "/api/v1/notifications/deliveries/{delivery_id}/redeliver"): (
        lambda w: f"/notifications/deliveries/{w['delivery'].pk}/redeliver", lambda w: None,
        "delivery_redelivered", "delivery"),
}

MUTATING = {"post", "put", "patch", "delete"}


def test_every_route_is_classified():
    """A new route must say how it is audited: a recipe in PAGE_WRITES, a reason in EXEMPT, or a read."""
    names = {route.name for route in ROUTES if not route.name.startswith("api:")}  # the API: the OpenAPI test
    unknown = sorted(n for n in names - set(PAGE_WRITES) - set(EXEMPT) if not READ_NAME.match(n))
    assert unknown == [], f"Routes with no audit recipe, exemption or read classification: {unknown}"
    assert not (set(PAGE_WRITES) | set(EXEMPT)) - names, "recipes for routes that no longer exist"
    assert all(len(reason) > 20 for reason in [*EXEMPT.values(), *API_EXEMPT.values()])


def test_every_api_write_in_the_openapi_document_is_classified(client):
    document = client.get("/api/v1/openapi.json").json()
    writes = {(method, path) for path, operations in document["paths"].items() for method in operations
              if method in MUTATING}
    unknown = sorted(writes - set(API_WRITES) - set(API_EXEMPT))
    assert unknown == [], f"API writes with no audit recipe or exemption: {unknown}"
    assert not (set(API_WRITES) | set(API_EXEMPT)) - writes, "recipes for endpoints that no longer exist"


def _new_entries(before_ids):
    return list(ProjectAction.objects.exclude(action_id__in=before_ids).order_by("sequence"))


@pytest.mark.parametrize("name", sorted(PAGE_WRITES))
def test_each_page_write_is_audited_with_its_actor_and_address(name, world, client, settings,
                                                               django_capture_on_commit_callbacks):
    settings.TRUSTED_PROXY_COUNT = 1
    who, url, data, action, target_type = PAGE_WRITES[name]
    user = world[who]
    client.force_login(user)
    before = set(ProjectAction.objects.values_list("action_id", flat=True))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url(world), data(world), headers={"X-Forwarded-For": f"198.51.100.1, {ADDRESS}",
                                                                 "User-Agent": AGENT, "X-Request-ID": f"req-{name}"})
    assert response.status_code < 400, (name, response.status_code, response.content[:500])
    entries = [e for e in _new_entries(before) if e.action_type == action]
    assert len(entries) == 1, (name, [e.action_type for e in _new_entries(before)])
    entry = entries[0]
    assert entry.source == "witnessed" and entry.target_type == target_type and entry.target_id
    assert (entry.actor_type, entry.actor_label, entry.user) == ("user", user.username, user)
    assert (entry.client_address, entry.user_agent, entry.request_id) == (ADDRESS, AGENT, f"req-{name}")
    assert entry.sequence and entry.entry_hash


@pytest.mark.parametrize("operation", sorted(API_WRITES), ids=lambda op: f"{op[0]} {op[1]}")
def test_each_api_write_is_audited_with_its_key(operation, world, api_as, django_capture_on_commit_callbacks):
    path, body, action, target_type = API_WRITES[operation]
    api = api_as(world["token"])
    before = set(ProjectAction.objects.values_list("action_id", flat=True))
    with django_capture_on_commit_callbacks(execute=False):
        response = api.request(operation[0], path(world), body(world), headers={"User-Agent": AGENT})
    assert response.status_code < 400, (operation, response.status_code, response.content[:500])
    [entry] = [e for e in _new_entries(before) if e.action_type == action]
    key = world["key"]
    assert (entry.actor_type, entry.actor_label, entry.actor_key_prefix) == (
        "api_key", f"API key “ci” (ah_{key.prefix}_…)", key.prefix)
    assert entry.user is None and entry.client_address == "127.0.0.1" and entry.user_agent == AGENT
    assert entry.target_type == target_type
    # What a key reports is marked as reported; everything else ActivityHub witnessed.
    assert entry.source == ("reported" if operation == ("post", "/api/v1/actions") else "witnessed")


def test_retention_entry_says_before_and_after(world, client_for):
    client_for(world["owner"]).post(reverse("projects:retention_update", args=[world["project"].slug]),
                                    {"retention_days": 30, "confirm": "1"})
    entry = ProjectAction.objects.get(action_type="retention_changed")
    assert entry.changes == {"retention_days": [180, 30]}
    assert entry.get_action_type_display() == "Retention changed"
    assert ("retention days", "180 → 30") in entry.change_lines


def test_a_key_cannot_report_an_entry_that_looks_like_a_members(world, api_as):
    api_as(world["token"]).post("/actions", {"action_type": "member_added", "action_details": "vera added as owner",
                                             "request_id": "forged"})
    entry = ProjectAction.objects.get(action_type="member_added")
    assert entry.source == "reported" and entry.actor_type == "api_key" and entry.user is None
    assert entry.actor_label.startswith("API key “ci”")


def test_labels_are_written_for_people(world, client_for):
    client_for(world["owner"]).post(reverse("projects:api_key_create", args=[world["project"].slug]),
                                    {"name": "deploy", "scope": "read"})
    assert ProjectAction.objects.get(action_type="api_key_created").get_action_type_display() == "API key created"


def test_audit_page_filters_by_actor_and_action_and_marks_reported(world, client_for, api_as):
    api_as(world["token"]).post("/actions", {"action_type": "deployment", "action_details": "Deployed by CI"})
    client = client_for(world["owner"])
    client.post(reverse("projects:retention_update", args=[world["project"].slug]), {"retention_days": 30, "confirm": "1"})
    url = reverse("events:audit", args=[world["project"].slug])
    page = client.get(url).content.decode()
    assert "Reported" in page and "reported by" in page and "180 → 30" in page
    by_owner = client.get(url, {"actor": world["owner"].username}).content.decode()
    assert "Retention changed" in by_owner and "Deployed by CI" not in by_owner
    by_key = client.get(url, {"actor": world["key"].prefix}).content.decode()
    retention = 'data-action="retention_changed"'
    assert "Deployed by CI" in by_key and retention not in by_key
    by_action = client.get(url, {"action_type": "retention_changed"}).content.decode()
    assert retention in by_action and "Deployed by CI" not in by_action
    witnessed = client.get(url, {"source": "witnessed"}).content.decode()
    assert "Deployed by CI" not in witnessed and retention in witnessed


def test_admin_saves_are_audited(world, staff, client_for):
    membership = Membership.objects.get(user=world["viewer"])
    url = reverse("admin:projects_membership_change", args=[membership.pk])
    response = client_for(staff).post(url, {"user": world["viewer"].pk, "project": world["project"].pk,
                                            "role": "editor"})
    assert response.status_code == 302
    entry = ProjectAction.objects.get(action_type="membership_changed_in_admin")
    assert (entry.actor_label, entry.source, entry.changes) == (staff.username, "witnessed",
                                                                {"role": ["viewer", "editor"]})


def test_admin_revoking_keys_is_audited(world, staff, client_for):
    client_for(staff).post(reverse("admin:projects_apikey_changelist"),
                           {"action": "revoke", "_selected_action": [world["revocable"].pk]})
    assert ProjectAction.objects.filter(action_type="api_key_revoked", actor_label=staff.username).count() == 1


def test_a_witnessed_change_is_announced_like_a_reported_one(world, client_for, django_capture_on_commit_callbacks):
    """Subscriptions that match audit actions listen to actions_recorded: witnessed entries are announced too."""
    from events.ingest import actions_recorded

    heard = []

    def listen(sender, project, action_ids, user, **kwargs):
        heard.append((project.pk, action_ids, user))

    actions_recorded.connect(listen, dispatch_uid="test-audit-heard")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client_for(world["owner"]).post(reverse("projects:retention_update", args=[world["project"].slug]),
                                            {"retention_days": 30, "confirm": "1"})
    finally:
        actions_recorded.disconnect(dispatch_uid="test-audit-heard")
    entry = ProjectAction.objects.get(action_type="retention_changed")
    assert (world["project"].pk, [entry.action_id], world["owner"]) in heard


def test_admin_run_now_is_audited_and_leaves_paused_checks(world, staff, client_for):
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(days=1)
    paused = HealthCheck.objects.create(project=world["project"], check_id="old", check_name="Old", paused=True,
                                        url="http://127.0.0.1:9/old", due_at=later)
    HealthCheck.objects.filter(pk=world["check"].pk).update(due_at=later)
    response = client_for(staff).post(reverse("admin:monitoring_healthcheck_changelist"),
                                      {"action": "run_now", "_selected_action": [world["check"].pk, paused.pk]})
    assert response.status_code == 302
    entries = ProjectAction.objects.filter(action_type="health_check_run_requested")
    assert [(e.target_id, e.actor_label) for e in entries] == [("api", staff.username)]
    assert entries[0].get_action_type_display() == "Health check run now"
    paused.refresh_from_db()
    world["check"].refresh_from_db()
    assert paused.due_at == later and world["check"].due_at <= timezone.now()
