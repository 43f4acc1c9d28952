"""Notifications: which channels exist, queueing an alert once, and delivering it with retries.

Channels come from settings.MONITORING_NOTIFICATIONS, a list of {"channel": "slack"|"webhook"|"email",
"target": url-or-address}; when unset, from the environment: MONITORING_SLACK_WEBHOOK_URL,
MONITORING_WEBHOOK_URL and MONITORING_EMAIL_TO (comma-separated addresses).
Backoff: attempt n+1 waits MONITORING_RETRY_BASE_SECONDS × 2^(n-1) (default 30 s), ± MONITORING_RETRY_JITTER
(default 0.1, a fraction) after attempt n failed; MONITORING_MAX_ATTEMPTS (default 5) attempts in all.
Sending is outbound.send, the delivery engine project notifications use too.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

import outbound

from .models import Channel, NotificationLog

log = logging.getLogger("monitoring.notify")


@dataclass(frozen=True)
class Destination:
    channel: str
    target: str


def configured_destinations() -> list[Destination]:
    # Built from the environment in settings.py (MONITORING_SLACK_WEBHOOK_URL, MONITORING_WEBHOOK_URL, …).
    configured = getattr(settings, "MONITORING_NOTIFICATIONS", None) or []
    destinations = []
    for item in configured:
        if item.get("channel") not in Channel.values or not item.get("target"):
            raise ImproperlyConfigured(
                f"MONITORING_NOTIFICATIONS entry {item!r}: channel must be one of {Channel.values} with a target."
            )
        destinations.append(Destination(item["channel"], item["target"]))
    return destinations


def retry_base_seconds() -> float:
    return float(getattr(settings, "MONITORING_RETRY_BASE_SECONDS", 30))


def max_attempts() -> int:
    return max(1, int(getattr(settings, "MONITORING_MAX_ATTEMPTS", 5)))


def retry_jitter() -> float:
    return float(getattr(settings, "MONITORING_RETRY_JITTER", 0.1))


def backoff(retry_count: int, base: float | None = None) -> timedelta:
    """Delay before attempt retry_count+2, after attempt retry_count+1 failed (retry_count is the row's, 0 for
    the first attempt): base × 2^retry_count, spread by ±MONITORING_RETRY_JITTER (outbound.retry_delay)."""
    base = retry_base_seconds() if base is None else base
    return outbound.retry_delay(retry_count + 1, base=base, jitter=retry_jitter())


def enqueue(notification_type, *, subject, message, dedupe_key, payload=None, execution=None, report=None) -> int:
    """Queue the first attempt on every channel; the same dedupe_key is queued once. Returns rows queued."""
    rows = [
        NotificationLog(
            notification_type=notification_type,
            channel=dest.channel,
            target=dest.target,
            subject=subject[:300],
            message=message,
            payload=payload or {},
            dedupe_key=dedupe_key[:200],
            execution=execution,
            report=report,
        )
        for dest in configured_destinations()
    ]
    if not rows:
        return 0
    before = NotificationLog.objects.filter(dedupe_key=dedupe_key[:200], retry_count=0).count()
    NotificationLog.objects.bulk_create(rows, ignore_conflicts=True)
    return NotificationLog.objects.filter(dedupe_key=dedupe_key[:200], retry_count=0).count() - before


def message_for(row: NotificationLog) -> outbound.Message:
    """The message one NotificationLog row sends; its delivery id (the alert's dedupe key) is the same on every
    retry, so a receiver that got an attempt whose answer was lost can drop the repeat."""
    return outbound.Message(
        event_type=row.notification_type,
        subject=row.subject,
        text=row.message,
        payload=row.payload or {},
        delivery_id=row.dedupe_key,
    )


def deliver(row: NotificationLog, timeout: float = 10.0) -> str | None:
    """Send one attempt of a row through outbound.send; the error text, or None when delivered.
    Touches no database (the daemon runs it in threads)."""
    attempt = outbound.send(row.channel, row.target, message_for(row), timeout=timeout)
    return None if attempt.ok else attempt.error
