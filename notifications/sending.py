"""Sending project notifications through the one delivery engine (outbound.engine): first attempts for a
recorded batch, and what the engine asks of this stream (where a row goes, and what its outcome means).

Every function takes `now` so tests run the clock; the task at the end (django.tasks, ids only) passes the real
time. A Delivery row is stored before its attempt is sent: the unique (delivery_key, attempt) decides which of
two workers sends it, so a matching event is delivered exactly once per attempt. Retries, redeliveries and the
backoff are the engine's (outbound.engine.send_due, redeliver; DELIVERY_NOTIFICATION_* settings).
"""

import functools
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.tasks import task

import outbound
from outbound import engine, rendering
from outbound.models import Stream, new_delivery_id
from projects.audit import Actor, acting_as, record
from projects.models import Membership, Project

from . import matching, words
from .models import (
    Channel,
    Delivery,
    Source,
    Subscription,
    member_destination,
    subscription_destination,
)

log = logging.getLogger("notifications")


def destination_fields(project, source, source_id, *, subscription=None, recipient_id=None) -> dict:
    """The row fields that say where a delivery goes, and its delivery_key (one per thing × destination)."""
    if subscription is not None:
        destination, channel, target = (subscription_destination(subscription.pk), subscription.channel,
                                        "" if subscription.channel == Channel.EMAIL else subscription.target_url)
    else:
        destination, channel, target = member_destination(recipient_id), Channel.EMAIL, ""
    return {"stream": Stream.NOTIFICATION, "project_id": project.pk, "source": source, "source_id": source_id,
            "destination": destination, "channel": channel, "target": target,
            "delivery_key": f"{destination}|project:{project.pk}|{source}:{source_id}"[:300]}


def store(project, source, source_id, *, subscription=None, recipient_id=None, delivery_id=None,
          **message) -> Delivery | None:
    """Store one pending first attempt; None when another worker stored it first."""
    fields = destination_fields(project, source, source_id, subscription=subscription, recipient_id=recipient_id)
    stored = engine.store(**fields, delivery_id=delivery_id or new_delivery_id(), **message)
    return Delivery.objects.get(pk=stored.pk) if stored else None


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
    stored = []
    for row in rows:
        # An event is delivered once per status it reaches (recorded IN_PROGRESS, later FAILED: two deliveries).
        source_id = f"{row['id']}:{row['status']}" if source == Source.EVENT else row["action_id"]
        destinations = [{"subscription": s} for s in subscriptions if matching.subscription_matches(s, source, row)]
        destinations += [{"recipient_id": u} for u in matching.interested_members(project, source, row, preferences, watches)]
        if not destinations:
            continue
        for destination in destinations:  # the same words; each reader's own links (manage, unsubscribe)
            delivery_id = new_delivery_id()
            notice = words.notice_for(project, source, row, delivery_id=delivery_id, **destination)
            delivery = store(project, source, source_id, **destination, delivery_id=delivery_id,
                             **rendering.stored_fields(notice))
            if delivery is not None:
                stored.append(delivery.pk)
    engine.send_now(stored, now=now)
    return len(stored)


# ----- what the engine asks of this stream (registered in NotificationsConfig.ready) -----


def plan(row, now) -> engine.Plan | None:
    """Where one stored attempt goes now: the subscription's URL or its recipients' addresses (None once the
    subscription is disabled or gone), or the member's address."""
    message = engine.message_of(row)
    kind, _, pk = row.destination.partition(":")
    if kind == "member":
        email = get_user_model().objects.filter(pk=pk).values_list("email", flat=True).first() or ""
        return engine.Plan(targets=[(Channel.EMAIL, email)] if email else [], message=message,
                           empty_reason="the member has no email address")
    subscription = Subscription.objects.filter(pk=pk, enabled=True).prefetch_related("recipients").first()
    if subscription is None:
        return None
    if subscription.channel == Channel.EMAIL:
        targets = [(Channel.EMAIL, u.email) for u in subscription.recipients.all() if u.email]
    else:
        targets = [(subscription.channel, subscription.target_url)]
    return engine.Plan(targets=targets, message=message, secrets=subscription.signing_secrets(now),
                       empty_reason="no recipient has an email address")


def count_outcome(row, ok, now):
    """A success resets the subscription's failure count; each newly failing event adds one; at the limit the
    subscription is disabled and the project's owners are told."""
    if not row.destination.startswith("subscription:"):
        return
    subscriptions = Subscription.objects.filter(pk=row.destination_id)
    if ok:
        subscriptions.exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    if row.attempt != 1 or row.source == "ping":
        return
    subscriptions.update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.DELIVERY_DISABLE_AFTER
    reason = f"Disabled {now:%Y-%m-%d %H:%M} UTC after {limit} events in a row failed to deliver ({row.error})."[:300]
    if subscriptions.filter(enabled=True, consecutive_failures__gte=limit).update(enabled=False, disabled_reason=reason):
        subscription = Subscription.objects.select_related("project").get(pk=row.destination_id)
        with acting_as(Actor.system("notification delivery")):
            record(subscription.project, "subscription_disabled", target=("subscription", subscription.pk),
                   details=f"Subscription “{subscription.name}” disabled: {reason}",
                   before={"enabled": True}, after={"enabled": False})
        _tell_owners(subscription, reason)


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


def redeliver(delivery, *, now=None):
    """A new attempt of the same payload with the same delivery_id (outbound.engine.redeliver)."""
    stored = engine.redeliver(delivery, now=now)
    return Delivery.objects.get(pk=stored.pk) if stored else None


def ping(subscription, *, by=None) -> Delivery | None:
    """A test delivery (GitHub's ping): a small message to the subscription, stored now and sent by a task after
    commit. It is not retried, and its failure does not count towards disabling the subscription."""
    project = subscription.project
    delivery_id = new_delivery_id()
    notice = words.ping_notice(subscription, delivery_id=delivery_id, by=by)
    stored = store(project, "ping", delivery_id, subscription=subscription, delivery_id=delivery_id, manual=True,
                   **rendering.stored_fields(notice))
    if stored is None:
        return None
    transaction.on_commit(functools.partial(engine.send_deliveries.enqueue, [stored.pk]))
    return stored


# ----- the task: enqueued after commit (notifications.receivers), run by any worker -----


@task
def deliver_batch(project_id: int, source: str, ids: list) -> int:
    """One task per recorded batch: match it and send each first attempt."""
    return deliver_recorded(project_id, source, ids)


# Tasks queued before the delivery log moved to outbound.engine still name these; they hand over to the engine.
@task
def retry_delivery(delivery_pk: int) -> bool:
    """Deprecated (queued by an older release): the retry is now a queued attempt that send_due makes."""
    return engine.send_due() > 0


@task
def send_redelivery(delivery_pk: int) -> bool:
    """Deprecated (queued by an older release): sends the stored redelivery."""
    return any(row.state == "succeeded" for row in engine.send_now([delivery_pk]))
