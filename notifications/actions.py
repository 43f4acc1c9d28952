"""Every change to a project's notification subscriptions goes through here — the pages and the API call these —
and each records itself in the audit trail (projects/audit.py). Secrets never enter the trail, and a target URL is
recorded by its host only (a Slack or webhook URL is itself a credential).

A member's own preferences and watches are personal settings, not the project's, and are not audited.
"""

from urllib.parse import urlsplit

from django.db import transaction

import outbound
from projects.audit import record

from . import sending
from .models import Channel, Level, Mode, Preference, Subscription, Watch
from .secrets import rotate

SUBSCRIPTION_FIELDS = ("name", "match_events", "event_types", "category", "event_status", "entity_type",
                       "text_contains", "match_actions", "action_type", "action_status", "environment", "channel",
                       "target_url", "mode", "enabled")


def _host(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else ""


def snapshot(subscription: Subscription) -> dict:
    values = {name: getattr(subscription, name) for name in SUBSCRIPTION_FIELDS}
    values["target_url"] = _host(values["target_url"])
    if subscription.pk:
        values["recipients"] = ", ".join(sorted(u.get_username() for u in subscription.recipients.all()))
    return values


def _target(subscription):
    return ("subscription", subscription.pk)


def _store_recipients(subscription, recipients, form):
    if form is not None:
        form.save_m2m()
    elif recipients is not None:
        subscription.recipients.set(recipients)


def create_subscription(subscription: Subscription, *, recipients=None, form=None) -> Subscription:
    """Save a new subscription (a webhook gets its signing secret); `form`'s many-to-many or `recipients`."""
    if subscription.channel == Channel.WEBHOOK and not subscription.secret:
        subscription.secret = outbound.new_secret()
    with transaction.atomic():
        subscription.save()
        _store_recipients(subscription, recipients, form)
        record(subscription.project, "subscription_created", target=_target(subscription),
               details=f"Subscription “{subscription.name}” created ({subscription.get_channel_display()})",
               after=snapshot(subscription))
    return subscription


def save_subscription(subscription: Subscription, before: dict, *, recipients=None, form=None) -> str | None:
    """Save an edited subscription (`before`: its snapshot() as loaded). Returns the new signing secret when it
    became a webhook (shown once), else None. Enabling it again clears its failure count."""
    new_secret = None
    if subscription.channel == Channel.WEBHOOK and not subscription.secret:
        subscription.secret = new_secret = outbound.new_secret()
    if subscription.enabled and not before.get("enabled"):
        subscription.consecutive_failures, subscription.disabled_reason = 0, ""
    with transaction.atomic():
        subscription.save()
        _store_recipients(subscription, recipients, form)
        after = snapshot(subscription)
        changed = [k for k in after if after[k] != before.get(k)]
        if changed == ["enabled"]:
            action = "subscription_enabled" if subscription.enabled else "subscription_paused"
            details = f"Subscription “{subscription.name}” {'enabled' if subscription.enabled else 'paused'}"
        else:
            action, details = "subscription_changed", f"Subscription “{subscription.name}” changed"
        if changed:
            record(subscription.project, action, target=_target(subscription), details=details,
                   before=before, after=after)
    return new_secret


def set_subscription_enabled(subscription: Subscription, enabled: bool) -> None:
    before = snapshot(subscription)
    subscription.enabled = enabled
    save_subscription(subscription, before)


def delete_subscription(subscription: Subscription) -> None:
    before = snapshot(subscription)
    target = _target(subscription)
    with transaction.atomic():
        subscription.delete()
        record(subscription.project, "subscription_deleted", target=target,
               details=f"Subscription “{subscription.name}” and its delivery log deleted", before=before)


def rotate_subscription_secret(subscription: Subscription) -> str:
    """A new signing secret (returned, shown once); the previous one keeps signing through the overlap."""
    with transaction.atomic():
        secret = rotate(subscription)
        record(subscription.project, "subscription_secret_rotated", target=_target(subscription),
               details=f"Signing secret of “{subscription.name}” rotated; the previous one is accepted until "
                       f"{subscription.previous_secret_expires_at:%d %b %Y %H:%M} UTC"
               if subscription.previous_secret_expires_at else f"Signing secret of “{subscription.name}” rotated")
    return secret


def send_test_delivery(subscription: Subscription, *, by=None):
    """GitHub's ping: a small message to the subscription, stored now and sent after commit; the stored attempt."""
    with transaction.atomic():
        sent = sending.ping(subscription, by=by)
        if sent is not None:
            record(subscription.project, "subscription_test_delivery_sent", target=_target(subscription),
                   details=f"Test delivery {sent.delivery_id} sent to “{subscription.name}”")
    return sent


def redeliver(delivery):
    """Send a delivery's payload again; the new attempt, or None when another redelivery is being stored."""
    with transaction.atomic():
        again = sending.redeliver(delivery)
        if again is not None:
            subscription = Subscription.objects.select_related("project").get(pk=delivery.subscription_id)
            record(subscription.project, "delivery_redelivered", target=("delivery", delivery.delivery_id),
                   details=f"Delivery {delivery.delivery_id} of “{subscription.name}” sent again "
                           f"(attempt {again.attempt})")
    return again


# ----- a member's own settings: personal, not the project's state, so not audited -----


def toggle_watch(user, project, entity_type: str, entity_id: str) -> bool:
    """Watch one entity, or stop watching it; whether the member now watches it."""
    with transaction.atomic():
        watches = Watch.objects.filter(user=user, project=project, entity_type=entity_type, entity_id=entity_id)
        if watches.delete()[0]:
            return False
        Watch.objects.get_or_create(user=user, project=project, entity_type=entity_type, entity_id=entity_id)
        return True


def toggle_failure_watch(user, project) -> bool:
    """Be told of the project's failures, or stop; whether the member now is."""
    with transaction.atomic():
        preference = (Preference.objects.select_for_update().filter(user=user, project=project).first()
                      or Preference(user=user, project=project))  # a new one is OFF
        preference.level = Level.FAILURES if preference.level == Level.OFF else Level.OFF
        preference.save()
        return preference.level != Level.OFF


def save_preference(form) -> Preference:
    """A member's validated PreferenceForm for one project."""
    return form.save()


def unsubscribe_member(membership) -> None:
    """The one-click unsubscribe: no more notifications or watches from this project for this member."""
    with transaction.atomic():
        Preference.objects.update_or_create(user=membership.user, project=membership.project,
                                            defaults={"level": Level.OFF, "mode": Mode.IMMEDIATE})
        Watch.objects.filter(user=membership.user, project=membership.project).delete()
