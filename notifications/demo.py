"""Demo data for notifications: two of the acme-api project's rules (a Slack channel for failures, a signed
webhook for deployments) and the owner's personal watch on failures. Idempotent: rules are found by name."""

from typing import Any

from outbound import new_secret

from .models import Channel, Level, Mode, Preference, Subscription


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
    log(f"  notifications: {Subscription.objects.filter(project=project).count()} rules on {project.slug}")
