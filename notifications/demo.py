"""Demo data for notifications: two of the acme-api project's rules (a Slack channel for failures, a signed
webhook for deployments), a test delivery in the webhook's log, the owner's personal watch on failures, and an
audit stream (paused: its receiver does not exist) with a test delivery in its log.
Idempotent: rules are found by name, the test deliveries by their fixed ids."""

import json
from typing import Any

from django.db.models import Max

from events.models import ProjectAction
from outbound import new_secret, rendering
from outbound.models import Delivery as OutboundDelivery
from outbound.models import Stream
from projects.models import AuditStream

from . import words
from .models import Channel, Delivery, DeliveryState, Level, Mode, Preference, Subscription
from .sending import destination_fields


def add_demo(context, log):
    project = context["projects"]["acme-api"]
    owner = context["users"]["owner"]
    rules: list[dict[str, Any]] = [
        {"name": "Failures to #acme-alerts", "channel": Channel.SLACK, "event_status": "FAILED",
         "target_url": "https://hooks.slack.example/services/T000/B000/XXXX"},
        {"name": "Deployments to the release bot", "channel": Channel.WEBHOOK, "match_events": False,
         "match_actions": True, "action_type": "deployment", "target_url": "https://ops.example/hooks/activityhub",
         "mode": Mode.IMMEDIATE},
    ]
    for rule in rules:
        fields = {**rule, "created_by": owner}
        if rule["channel"] == Channel.WEBHOOK:
            fields["secret"] = new_secret()
        Subscription.objects.get_or_create(project=project, name=rule["name"], defaults=fields)
    Preference.objects.get_or_create(user=owner, project=project, defaults={"level": Level.FAILURES})
    hook = Subscription.objects.get(project=project, name="Deployments to the release bot")
    notice = words.ping_notice(hook, delivery_id="dlv_demo_ping", by=owner)
    message = rendering.render(notice)
    body = json.dumps({"id": notice.delivery_id, "type": "ping", "subject": message.subject, "data": notice.data})
    Delivery.objects.get_or_create(delivery_id="dlv_demo_ping", defaults={
        **destination_fields(project, "ping", "dlv_demo_ping", subscription=hook), **rendering.stored_fields(notice),
        "manual": True, "state": DeliveryState.SUCCEEDED, "status_code": 200, "latency_ms": 84,
        "request_headers": {"Content-Type": "application/json", "User-Agent": "ActivityHub-Webhooks/1",
                            "X-ActivityHub-Event": "ping", "X-ActivityHub-Delivery": "dlv_demo_ping"},
        "request_body": body, "response_headers": {"content-type": "application/json"},
        "response_excerpt": '{"ok": true}'})
    _add_demo_audit_stream(project, owner)
    log(f"  notifications: {Subscription.objects.filter(project=project).count()} rules on {project.slug}")


def _add_demo_audit_stream(project, owner):
    """A stream that has delivered the trail so far; paused, so `make demo` never posts to a host that is not there."""
    head = ProjectAction.objects.filter(project=project).aggregate(n=Max("sequence"))["n"] or 0
    stream, _ = AuditStream.objects.get_or_create(project=project, defaults={
        "url": "https://siem.example/activityhub/audit", "secret": new_secret(), "created_by": owner,
        "sent_sequence": head, "paused": True,
        "paused_reason": "A demo stream: siem.example does not exist, so it stays paused."})
    body = json.dumps({"id": "dlv_demo_stream_ping", "type": "ping", "subject": f"Test delivery of the audit stream of "
                       f"{project.name}", "data": {"project": {"slug": project.slug, "name": project.name},
                                                   "entries": [], "test": True}})
    OutboundDelivery.objects.get_or_create(delivery_id="dlv_demo_stream_ping", defaults={
        "stream": Stream.AUDIT, "delivery_key": f"{stream.destination}|ping:dlv_demo_stream_ping", "manual": True,
        "source": "ping", "source_id": "dlv_demo_stream_ping", "project_id": project.pk,
        "destination": stream.destination, "channel": Channel.WEBHOOK, "target": stream.url, "event_type": "ping",
        "subject": f"Test delivery of the audit stream of {project.name}", "state": DeliveryState.SUCCEEDED,
        "status_code": 200, "latency_ms": 61, "request_body": body, "response_excerpt": '{"ok": true}',
        "request_headers": {"Content-Type": "application/json", "User-Agent": "ActivityHub-Webhooks/1",
                            "X-ActivityHub-Event": "ping", "X-ActivityHub-Delivery": "dlv_demo_stream_ping"},
        "response_headers": {"content-type": "application/json"}})
