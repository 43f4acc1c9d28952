"""Monitoring alerts in the one delivery log (outbound.models.Delivery, stream "alert"): NotificationLog is that
log seen from monitoring, one row per attempt on each configured channel.

An alert queues attempt 1 per channel (pending); the delivery loop (outbound.engine, run by every monitoring
pass) sends what is due and queues attempt n+1 after a failure, until the last one is GAVE_UP. The row's
delivery_key (the alert's dedupe key × channel × target) and attempt are unique together, so an alert raised
twice (two daemons) is queued once. `source`/`source_id` name what the alert is about (a run, a report, …).
"""

import secrets

from django.db import models

from outbound.models import Channel, Delivery, DeliveryQuerySet, State, Stream


def new_log_id() -> str:
    """The old log's row id (kept: migration 0001 names it)."""
    return f"ntf_{secrets.token_hex(8)}"


class NotificationType(models.TextChoices):
    WORKFLOW_FAILED = "workflow_failed", "Workflow failed"
    WORKFLOW_RECOVERED = "workflow_recovered", "Workflow recovered"
    SCHEDULE_MISSED = "schedule_missed", "Scheduled run missed"
    SCHEDULE_RECOVERED = "schedule_recovered", "Schedule back on time"
    CHECK_DOWN = "check_down", "Health check down"
    CHECK_RECOVERED = "check_recovered", "Health check recovered"
    REPORT = "report", "Monitoring report"
    ANOMALY = "anomaly", "Unusual behaviour"
    ANOMALY_CLEARED = "anomaly_cleared", "Back to normal"
    AUDIT_TAMPERED = "audit_tampered", "Audit trail changed by hand"


# The words of the delivery log (the same for every stream); DeliveryStatus is monitoring's older name.
DeliveryStatus = State


class AlertManager(models.Manager.from_queryset(DeliveryQuerySet)):  # type: ignore[misc]
    def get_queryset(self):
        return super().get_queryset().filter(stream=Stream.ALERT)


class NotificationLog(Delivery):
    """An alert's delivery attempts (proxy: the rows of the one delivery log whose stream is "alert")."""

    objects = AlertManager()  # type: ignore[misc]  # a proxy's manager: only its stream's rows

    class Meta:
        proxy = True
        verbose_name = "alert delivery"
        verbose_name_plural = "alert deliveries"

    def save(self, *args, **kwargs):
        self.stream = Stream.ALERT
        super().save(*args, **kwargs)

    @property
    def notification_type(self) -> str:
        return self.event_type

    def get_notification_type_display(self) -> str:
        return NotificationType(self.event_type).label if self.event_type in NotificationType.values else self.event_type


__all__ = ["Channel", "DeliveryStatus", "NotificationLog", "NotificationType"]
