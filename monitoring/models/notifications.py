"""Notification delivery: one NotificationLog row per attempt.

An alert enqueues attempt 0 per channel (PENDING). A daemon claims due PENDING rows, sends, and marks the row
SENT or FAILED; a failed attempt enqueues attempt n+1 after an exponential backoff, until the last one is GAVE_UP.
(dedupe_key, channel, target, retry_count) is unique, so an alert raised twice (two daemons) is queued once.
"""

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone


def new_log_id() -> str:
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


class Channel(models.TextChoices):
    SLACK = "slack", "Slack-compatible webhook"
    WEBHOOK = "webhook", "Generic webhook"
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Queued"
    SENDING = "SENDING", "Sending"
    SENT = "SENT", "Delivered"
    FAILED = "FAILED", "Failed (retry queued)"
    GAVE_UP = "GAVE_UP", "Failed (no retries left)"


class NotificationLogQuerySet(models.QuerySet):
    def due(self, now):
        return self.filter(delivery_status=DeliveryStatus.PENDING, next_attempt_at__lte=now)

    def stale_sending(self, before):
        return self.filter(delivery_status=DeliveryStatus.SENDING, claimed_at__lt=before)

    def delivered(self):
        return self.filter(delivery_status=DeliveryStatus.SENT)

    def undelivered(self):
        return self.filter(delivery_status=DeliveryStatus.GAVE_UP)


class NotificationLog(models.Model):
    log_id = models.CharField(max_length=64, unique=True, default=new_log_id, editable=False)
    notification_type = models.CharField(max_length=32, choices=NotificationType.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=500, help_text="Webhook URL or email address")
    subject = models.CharField(max_length=300)
    message = models.TextField()
    payload = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, help_text="Identifies the alert; the same alert is queued once")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    error_message = models.TextField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0, help_text="0 for the first attempt, n for the n-th retry")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    execution = models.ForeignKey(
        "monitoring.WorkflowExecution",
        null=True,
        blank=True,
        on_delete=models.DB_SET_NULL,
        related_name="notification_logs",
    )
    report = models.ForeignKey(
        "monitoring.MonitoringReport",
        to_field="report_id",
        db_column="report_id",
        null=True,
        blank=True,
        on_delete=models.DB_SET_NULL,
        related_name="notification_logs",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationLogQuerySet.as_manager()

    class Meta:
        db_table = "notification_logs"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["delivery_status", "next_attempt_at"], name="notification_status_due"),
            models.Index(fields=["-created_at", "-id"], name="notification_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key", "channel", "target", "retry_count"], name="notification_one_per_attempt"
            ),
            models.CheckConstraint(
                condition=Q(notification_type__in=NotificationType.values), name="notification_type_valid"
            ),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="notification_channel_valid"),
            models.CheckConstraint(
                condition=Q(delivery_status__in=DeliveryStatus.values), name="notification_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {self.channel} (attempt {self.retry_count + 1}, {self.delivery_status})"
