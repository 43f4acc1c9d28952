"""Notifications: which channels exist, queueing an alert once, and delivering it with retries.

Channels come from settings.MONITORING_NOTIFICATIONS, a list of {"channel": "slack"|"webhook"|"email",
"target": url-or-address}; when unset, from the environment: MONITORING_SLACK_WEBHOOK_URL,
MONITORING_WEBHOOK_URL and MONITORING_EMAIL_TO (comma-separated addresses).
Backoff: attempt n+1 waits MONITORING_RETRY_BASE_SECONDS × 2^n (default 30 s) after attempt n failed;
MONITORING_MAX_ATTEMPTS (default 5) attempts in all.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage

import outbound

from .models import Channel, NotificationLog

log = logging.getLogger("monitoring.notify")

USER_AGENT = "ActivityHub-monitor/1"


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


def backoff(retry_count: int, base: float | None = None) -> timedelta:
    """Delay before attempt retry_count+1, after attempt retry_count failed: base × 2^retry_count."""
    base = retry_base_seconds() if base is None else base
    return timedelta(seconds=base * (2**retry_count))


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


class DeliveryError(Exception):
    pass


def _post_json(url, body, timeout):
    try:
        response = outbound.request(
            "POST",
            url,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            timeout=timeout,
        )
    except outbound.OutboundBlocked as exc:
        raise DeliveryError(f"refused {url}: {exc}") from None
    except outbound.OutboundError as exc:
        raise DeliveryError(f"could not reach {url}: {exc}") from None
    if not 200 <= response.status < 300:
        raise DeliveryError(f"HTTP {response.status} from {url}")


def deliver(channel, target, subject, message, payload, notification_type, timeout=10.0):
    """Send one attempt; raises DeliveryError with a readable reason. Touches no database (runs in threads)."""
    if channel == Channel.SLACK:
        _post_json(target, {"text": f"*{subject}*\n{message}"}, timeout)
    elif channel == Channel.WEBHOOK:
        _post_json(target, {"type": notification_type, "subject": subject, "message": message, "data": payload}, timeout)
    elif channel == Channel.EMAIL:
        try:
            EmailMessage(subject=subject, body=message, to=[target]).send(fail_silently=False)
        except Exception as exc:  # SMTP errors come in many classes; each is a failed attempt, never a crash
            raise DeliveryError(f"email to {target} failed: {exc}") from None
    else:  # pragma: no cover - the check constraint allows only the three channels
        raise DeliveryError(f"unknown channel {channel}")
