"""The two old delivery logs (monitoring's notification_logs, notifications' Delivery) are carried into the one
log (outbound's deliveries) by migrations monitoring 0016 and notifications 0003: every row, its state in the
new words, its destination, and a failed attempt's retry that was still to come queued as its next attempt."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("monitoring", "0015_workflow_execution_is_called_a_run"), ("notifications", "0002_delivery_source_run"),
          ("outbound", "0001_delivery_log")]
AFTER = [("monitoring", "0016_alert_log_moves_to_deliveries"),
         ("notifications", "0003_delivery_log_moves_to_deliveries")]


@pytest.fixture
def old_state(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    # Forward to the latest leaf nodes again, so later tests find the database fully migrated.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_old_log_rows_are_carried_into_the_one_delivery_log(old_state):
    now = timezone.now()
    from django.contrib.auth.models import User

    from projects.models import Project  # projects and auth stay at their latest migration

    Subscription = old_state.get_model("notifications", "Subscription")
    OldDelivery = old_state.get_model("notifications", "Delivery")
    OldAlert = old_state.get_model("monitoring", "NotificationLog")
    member = User.objects.create(username="ada", email="ada@example.com")
    project = Project.objects.create(name="Acme API", slug="acme-api-migration")
    hook = Subscription.objects.create(project_id=project.pk, name="CI hook", channel="webhook",
                                       target_url="https://ci.example/hook")
    OldDelivery.objects.create(subscription=hook, project_id=project.pk, source="event", source_id="55:FAILED",
                               delivery_id="dlv_a", attempt=1, state="failed", status_code=500, error="HTTP 500",
                               next_attempt_at=now + timedelta(minutes=10), subject="s", text="t", created_at=now)
    OldDelivery.objects.create(recipient_id=member.pk, project_id=project.pk, source="digest", source_id="daily:2026-01-01T00:00",
                               delivery_id="dlv_b", attempt=1, state="succeeded", created_at=now)
    OldAlert.objects.create(notification_type="workflow_failed", channel="slack", target="https://hooks.example/x",
                            subject="Workflow failed: nightly", message="Run 7 failed.", dedupe_key="run:7:failed",
                            retry_count=0, delivery_status="FAILED", error_message="HTTP 503")
    OldAlert.objects.create(notification_type="workflow_failed", channel="slack", target="https://hooks.example/x",
                            subject="Workflow failed: nightly", message="Run 7 failed.", dedupe_key="run:7:failed",
                            retry_count=1, delivery_status="SENT", sent_at=now)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    Delivery = executor.loader.project_state(AFTER).apps.get_model("outbound", "Delivery")

    alerts = list(Delivery.objects.filter(stream="alert").order_by("attempt")
                  .values_list("attempt", "state", "error", "delivery_id", "event_type", "text", "source"))
    assert alerts == [(1, "failed", "HTTP 503", "run:7:failed", "workflow_failed", "Run 7 failed.", "run"),
                      (2, "succeeded", "", "run:7:failed", "workflow_failed", "Run 7 failed.", "run")]
    assert len({d.delivery_key for d in Delivery.objects.filter(stream="alert")}) == 1  # one delivery, two attempts

    to_hook = list(Delivery.objects.filter(destination=f"subscription:{hook.pk}").order_by("attempt"))
    assert [(d.attempt, d.state, d.channel, d.target) for d in to_hook] == [
        (1, "failed", "webhook", "https://ci.example/hook"),
        (2, "pending", "webhook", "https://ci.example/hook"),  # the retry that was still to come, queued
    ]
    assert to_hook[1].next_attempt_at == now + timedelta(minutes=10)
    assert {d.delivery_id for d in to_hook} == {"dlv_a"} and to_hook[0].status_code == 500
    digest = Delivery.objects.get(destination=f"member:{member.pk}")
    assert (digest.state, digest.channel, digest.project_id, digest.source) == ("succeeded", "email", project.pk,
                                                                                "digest")
