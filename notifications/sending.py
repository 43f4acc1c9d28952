"""Sending: first attempts for a recorded batch, retries with backoff, redelivery, auto-disable.

Every function takes `now` so tests run the clock; the tasks at the end (django.tasks, ids only) pass the real time.
A Delivery row is stored before its attempt is sent: the unique constraint on (destination, source, source_id,
attempt) decides which of two workers sends it, so a matching event is delivered exactly once per attempt.
"""

import functools
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.tasks import task
from django.utils import timezone

import outbound
from projects.models import Membership, Project

from . import matching
from .models import Channel, Delivery, DeliveryState, Source, Subscription, new_delivery_id

log = logging.getLogger("notifications")


def _store(**fields):
    """Store one pending attempt; None when another worker stored the same attempt first."""
    try:
        with transaction.atomic():
            return Delivery.objects.create(**fields)
    except IntegrityError:
        return None


def deliver_recorded(project_id, source, ids, *, now=None):
    """Match the batch against the project's immediate rules (loaded once) and send each first attempt."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    subscriptions = [s for s in Subscription.objects.for_project(project).active().immediate().prefetch_related("recipients")]
    preferences, watches = matching.member_rules(project)
    if not subscriptions and not preferences and not watches:
        return 0
    rows = matching.load_events(ids) if source == Source.EVENT else matching.load_actions(ids)
    sent = 0
    for row in rows:
        # An event is delivered once per status it reaches (recorded IN_PROGRESS, later FAILED: two deliveries).
        source_id = f"{row['id']}:{row['status']}" if source == Source.EVENT else row["action_id"]
        subject, text = matching.describe(project, source, row)
        destinations = [{"subscription": s} for s in subscriptions if matching.subscription_matches(s, source, row)]
        destinations += [{"recipient_id": u} for u in matching.interested_members(project, source, row, preferences, watches)]
        if not destinations:
            continue
        # What every destination of this row is sent: built once, not per destination.
        event_type, payload = matching.event_type(source, row), matching.payload(project, source, row)
        for destination in destinations:
            stored = _store(project=project, source=source, source_id=source_id, subject=subject, text=text,
                            delivery_id=new_delivery_id(), event_type=event_type, payload=payload, **destination)
            if stored is not None:
                attempt(stored, now=now)
                sent += 1
    return sent


def _targets(delivery):
    """[(channel, target)] for the attempt: the subscription's URL, its recipients' addresses, or the member's."""
    subscription = delivery.subscription
    if subscription is None:
        return [(Channel.EMAIL, delivery.recipient.email)] if delivery.recipient.email else []
    if subscription.channel == Channel.EMAIL:
        return [(Channel.EMAIL, u.email) for u in subscription.recipients.all() if u.email]
    return [(subscription.channel, subscription.target_url)]


def attempt(delivery, *, now=None):
    """Send one stored attempt and record its outcome; schedule the next attempt if it failed."""
    now = now or timezone.now()
    message = outbound.Message(
        event_type=delivery.event_type, subject=delivery.subject, text=delivery.text, payload=delivery.payload,
        delivery_id=delivery.delivery_id,
    )
    secrets = delivery.subscription.signing_secrets(now) if delivery.subscription else []
    targets = _targets(delivery)
    results = [
        outbound.send(channel, target, message, secrets=secrets, timeout=settings.NOTIFICATIONS_TIMEOUT_SECONDS,
                      now=now)
        for channel, target in targets
    ]
    if not results:
        results = [outbound.Attempt(False, None, 0, "", "no recipient has an email address")]
    failed = [r for r in results if not r.ok]
    last = failed[0] if failed else results[-1]
    delivery.state = DeliveryState.FAILED if failed else DeliveryState.SUCCEEDED
    delivery.status_code = last.status_code
    delivery.latency_ms = max(r.latency_ms for r in results)
    delivery.response_excerpt = last.response_excerpt[:500]
    delivery.error = last.error[:500]
    if failed and not delivery.manual and delivery.attempt < settings.NOTIFICATIONS_MAX_ATTEMPTS:
        wait = outbound.retry_delay(delivery.attempt, base=settings.NOTIFICATIONS_RETRY_BASE_SECONDS)
        delivery.next_attempt_at = now + wait
    delivery.save(update_fields=["state", "status_code", "latency_ms", "response_excerpt", "error", "next_attempt_at"])
    if delivery.subscription_id:
        _count_outcome(delivery, ok=not failed, now=now)
    if delivery.next_attempt_at and (delivery.subscription is None or _still_enabled(delivery.subscription_id)):
        retry_delivery.using(run_after=delivery.next_attempt_at).enqueue(delivery.pk)
    return delivery


def _still_enabled(subscription_id):
    return Subscription.objects.filter(pk=subscription_id, enabled=True).exists()


def _count_outcome(delivery, *, ok, now):
    """A success resets the subscription's failure count; each newly failing event adds one; at the limit the
    subscription is disabled and the project's owners are told."""
    subscriptions = Subscription.objects.filter(pk=delivery.subscription_id)
    if ok:
        subscriptions.exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    if delivery.attempt != 1:
        return
    subscriptions.update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.NOTIFICATIONS_DISABLE_AFTER
    reason = f"Disabled {now:%Y-%m-%d %H:%M} UTC after {limit} events in a row failed to deliver ({delivery.error})."[:300]
    if subscriptions.filter(enabled=True, consecutive_failures__gte=limit).update(enabled=False, disabled_reason=reason):
        _tell_owners(Subscription.objects.select_related("project").get(pk=delivery.subscription_id), reason)


def _tell_owners(subscription, reason):
    project = subscription.project
    message = outbound.Message(
        event_type="subscription.disabled", subject=f"[{project.name}] Notifications “{subscription.name}” disabled",
        text=f"{reason}\nFix the receiver, then enable the subscription again in the project's Settings → Notifications.",
        payload={}, delivery_id=f"disabled-{subscription.pk}",
    )
    for membership in Membership.objects.owners().filter(project=project).select_related("user"):
        if membership.user.email:
            outbound.send("email", membership.user.email, message)
    log.warning("subscription %s of %s disabled: %s", subscription.pk, project.slug, reason)


def _next_attempt(previous, *, number, manual=False):
    fields = {f.attname: getattr(previous, f.attname) for f in Delivery._meta.concrete_fields
              if f.attname in ("subscription_id", "recipient_id", "project_id", "source", "source_id", "delivery_id",
                               "event_type", "payload", "subject", "text")}
    return _store(**fields, attempt=number, manual=manual)


def retry(delivery_pk, *, now=None):
    """The scheduled next attempt after `delivery_pk` failed (nothing if a worker already made it)."""
    previous = Delivery.objects.select_related("subscription", "recipient").filter(pk=delivery_pk).first()
    if previous is None or previous.state != DeliveryState.FAILED:
        return None
    if previous.subscription is not None and not previous.subscription.enabled:
        return None
    stored = _next_attempt(previous, number=previous.attempt + 1)
    return attempt(stored, now=now) if stored else None


def redeliver(delivery, *, now=None):
    """A new attempt of the same payload with the same delivery_id, stored now; a task sends it (once: a manual
    attempt that fails is not retried on its own)."""
    for _ in range(3):
        latest = Delivery.objects.filter(
            subscription=delivery.subscription_id, recipient=delivery.recipient_id, source=delivery.source,
            source_id=delivery.source_id,
        ).aggregate(n=Max("attempt"))["n"] or 0
        stored = _next_attempt(delivery, number=latest + 1, manual=True)
        if stored:
            transaction.on_commit(functools.partial(send_redelivery.enqueue, stored.pk))
            return stored
    return None


def send_stored(delivery_pk, *, now=None):
    """Send a stored pending attempt (a redelivery)."""
    delivery = Delivery.objects.select_related("subscription", "recipient").filter(
        pk=delivery_pk, state=DeliveryState.PENDING
    ).first()
    if delivery is None:
        return None
    return attempt(delivery, now=now)


# ----- the tasks: enqueued after commit (notifications.receivers) or by an attempt, run by any worker -----


@task
def deliver_batch(project_id: int, source: str, ids: list) -> int:
    """One task per recorded batch: match it and send each first attempt."""
    return deliver_recorded(project_id, source, ids)


@task
def retry_delivery(delivery_pk: int) -> bool:
    return retry(delivery_pk) is not None


@task
def send_redelivery(delivery_pk: int) -> bool:
    return send_stored(delivery_pk) is not None
