"""Demo data for notifications: two of the acme-api project's rules (a Slack channel for failures, a signed
webhook for deployments), a test delivery in the webhook's log, and the owner's personal watch on failures.
Idempotent: rules are found by name, the test delivery by its fixed id."""

import json
from typing import Any

from outbound import new_secret, rendering

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
    log(f"  notifications: {Subscription.objects.filter(project=project).count()} rules on {project.slug}")
