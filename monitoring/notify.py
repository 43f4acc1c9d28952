"""Alerts: which channels exist, and queueing an alert once on each (the delivery loop, outbound.engine, sends).

Channels come from settings.MONITORING_NOTIFICATIONS, a list of {"channel": "slack"|"webhook"|"email",
"target": url-or-address}; when unset, from the environment: MONITORING_SLACK_WEBHOOK_URL,
MONITORING_WEBHOOK_URL and MONITORING_EMAIL_TO (comma-separated addresses).
Retries: DELIVERY_ALERT_MAX_ATTEMPTS (default 5) attempts, DELIVERY_ALERT_RETRY_BASE_SECONDS × 2^(n-1)
(default 30 s) apart, ± DELIVERY_RETRY_JITTER (outbound.engine.policy; the MONITORING_* names are fallbacks).
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from outbound import engine
from outbound.models import Stream

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


def max_attempts() -> int:
    return engine.policy(Stream.ALERT).max_attempts


def backoff(retry_count: int, base: float | None = None) -> timedelta:
    """Delay before attempt retry_count+2, after attempt retry_count+1 failed (0 for the first attempt)."""
    return engine.backoff(Stream.ALERT, retry_count + 1, base)


def delivery_key(dedupe_key: str, channel: str, target: str) -> str:
    """One alert on one channel: the alert's key, the channel and a digest of the target (a URL may be long)."""
    return f"{dedupe_key[:200]}|{channel}|{hashlib.sha256(target.encode()).hexdigest()[:16]}"


def enqueue(notification_type, *, subject, message, dedupe_key, payload=None, execution=None, report=None,
            about=None) -> int:
    """Queue the first attempt on every channel; the same dedupe_key is queued once. Returns rows queued.
    `about` is (source, source_id), what the alert is about; a run or a report given is that."""
    if execution is not None:
        about = ("run", str(execution.pk))
    elif report is not None:
        about = ("report", report.report_id)
    if about is None:  # "schedule:<id>:missed:…" is about schedule <id>
        kind, _, rest = dedupe_key.partition(":")
        about = (kind or "alert", rest.partition(":")[0])
    source, source_id = about[0][:16], about[1][:200]
    rows = [
        NotificationLog(
            stream=Stream.ALERT,
            event_type=notification_type,
            channel=dest.channel,
            target=dest.target,
            subject=subject[:300],
            text=message,
            payload=payload or {},
            delivery_id=dedupe_key[:200],
            delivery_key=delivery_key(dedupe_key, dest.channel, dest.target),
            source=source,
            source_id=source_id,
        )
        for dest in configured_destinations()
    ]
    return engine.queue(rows)


def record_outcome(row, ok, now) -> None:
    """After each alert attempt: a delivered report is marked notified."""
    if ok and row.source == "report":
        from .models import MonitoringReport

        MonitoringReport.objects.filter(report_id=row.source_id, notified_at__isnull=True).update(notified_at=now)
