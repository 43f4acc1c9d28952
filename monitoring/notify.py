"""Alerts: which channels exist, and queueing an alert once on each (the delivery loop, outbound.engine, sends).
What an alert says is monitoring.alerts' (a Notice per kind), rendered by outbound.rendering for every channel.

Channels come from settings.MONITORING_NOTIFICATIONS, a list of {"channel": "slack"|"webhook"|"email",
"target": url-or-address}; when unset, from the environment: MONITORING_SLACK_WEBHOOK_URL,
MONITORING_WEBHOOK_URL and MONITORING_EMAIL_TO (comma-separated addresses).
Retries: DELIVERY_ALERT_MAX_ATTEMPTS (default 5) attempts, DELIVERY_ALERT_RETRY_BASE_SECONDS × 2^(n-1)
(default 30 s) apart, ± DELIVERY_RETRY_JITTER (outbound.engine.policy; the MONITORING_* names are fallbacks).
"""

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from outbound import engine, rendering
from outbound.channels import TRANSPORTS
from outbound.models import Stream
from outbound.rendering import Notice

from .alerts import plain
from .models import Channel, NotificationLog

log = logging.getLogger("monitoring.notify")


# The environment variable that adds each kind of channel (activityhub/settings.py builds MONITORING_NOTIFICATIONS
# from them); the pages and the alerts' "manage" link say which one to change.
CHANNEL_SETTINGS = {"email": "MONITORING_EMAIL_TO", "slack": "MONITORING_SLACK_WEBHOOK_URL",
                    "webhook": "MONITORING_WEBHOOK_URL"}


@dataclass(frozen=True)
class Destination:
    channel: str
    target: str

    @property
    def label(self) -> str:
        return TRANSPORTS[self.channel].label if self.channel in TRANSPORTS else self.channel

    @property
    def shown(self) -> str:
        """The target as a page may show it: an address whole, a URL only up to its host (its path is a secret)."""
        if not TRANSPORTS.get(self.channel) or not TRANSPORTS[self.channel].needs_url:
            return self.target
        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "a URL"

    @property
    def setting(self) -> str:
        return CHANNEL_SETTINGS.get(self.channel, "MONITORING_NOTIFICATIONS")


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


def enqueue(notification_type=None, *, dedupe_key, notice: Notice | None = None, subject="", message="",
            payload=None, execution=None, report=None, about=None) -> int:
    """Queue the first attempt on every channel; the same dedupe_key is queued once. Returns rows queued.

    The alert is a Notice (monitoring.alerts builds each kind), rendered for every channel by outbound.rendering;
    an alert given as `subject` and `message` (with `payload`) becomes one, its subject the sentence. The
    dedupe_key is the delivery id receivers see. `about` is (source, source_id), what the alert is about; a run
    or a report given is that."""
    if notice is None:
        notice = plain(notification_type, subject, message, payload)
    notice = replace(notice, delivery_id=dedupe_key[:200])
    stored = rendering.stored_fields(notice)
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
            channel=dest.channel,
            target=dest.target,
            **stored,
            delivery_id=notice.delivery_id,
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
